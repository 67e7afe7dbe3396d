// `uvm snapshot save|restore`: save a running `uvm boot --api-sock` VM to a directory (`state`
// and `memory`, vmm/snapshot/snapshot.h) and start a VM from one, resuming the guest where it was.
#include <filesystem>

#include "cli/command.h"
#include "cli/exit_status.h"
#include "cli/vm_flags.h"
#include "runtime/vm_shape.h"
#include "vmm/control_socket.h"
#include "vmm/linux_vm.h"
#include "vmm/snapshot/snapshot.h"

namespace uvm::cli {
namespace {

struct SaveOptions {
  std::string api_sock;  // the VM's control socket (uvm boot --api-sock)
  std::string dir;       // where the snapshot goes (created if missing)
};

struct RestoreOptions {
  std::string dir;
  uint64_t memory_mib = 0;  // 0: what the snapshot was saved with
  int cpus = 0;             // 0: what the snapshot was saved with
  VmDeviceFlags devices;
};

Result<int> RunSave(const SaveOptions& o) {
  // The VM resolves the directory in its own working directory: send an absolute one.
  std::error_code ec;
  const std::string dir = std::filesystem::absolute(o.dir, ec).lexically_normal().string();
  if (ec) return Err(o.dir + ": " + ec.message());
  UVM_CHECK(Context(vmm::RequestSave(o.api_sock, dir), "--api-sock " + o.api_sock));
  return 0;
}

// Like uvm boot with the snapshot in place of a kernel: the same exit statuses.
Result<int> RunRestore(const RestoreOptions& o) {
  // The shape is the snapshot's unless given (then it must match: RunLinuxVm refuses otherwise).
  UVM_TRY(vmm::snapshot::MachineLayout layout,
          Context(vmm::snapshot::ReadSnapshotLayout(o.dir), "snapshot " + o.dir));
  const uint64_t memory_mib = o.memory_mib ? o.memory_mib : layout.total_bytes() >> 20;
  const int cpus = o.cpus ? o.cpus : static_cast<int>(layout.vcpus);
  UVM_CHECK(runtime::ValidateVmShape(memory_mib, cpus));
  vmm::LinuxVmConfig config;
  config.restore_dir = o.dir;
  UVM_CHECK(ApplyVmDeviceFlags(o.devices, config));
  config.memory_bytes = memory_mib << 20;
  config.cpus = cpus;
  UVM_TRY(vmm::LinuxVmResult r, Context(vmm::RunLinuxVm(config), "snapshot restore"));
  return ExitStatusOf(r);
}

}  // namespace

void RegisterSnapshotCommand(CommandTable& table) {
  auto cmd =
      table.root.Sub("snapshot", "Save a running VM to a directory and resume it from there");
  cmd.NeedsSubcommand();

  auto save = std::make_shared<SaveOptions>();
  auto save_cmd =
      cmd.Sub("save", "Save the VM of `uvm boot --api-sock PATH` to DIR (the VM then ends)");
  save_cmd.Option("--api-sock", save->api_sock, "the VM's control socket").Required();
  save_cmd.Option("dir", save->dir, "directory for `state` and `memory`").Required();
  OnParsed(save_cmd, table, [save] { return RunSave(*save); });

  auto restore = std::make_shared<RestoreOptions>();
  auto restore_cmd =
      cmd.Sub("restore", "Resume a saved VM and relay its console (devices as when it was saved)");
  restore_cmd.Option("dir", restore->dir, "the snapshot directory").Required();
  restore_cmd.Option("--memory", restore->memory_mib, "guest RAM in MiB (default: the snapshot's)");
  restore_cmd.Option("--cpus", restore->cpus, "vCPUs (default: the snapshot's)");
  AddVmDeviceFlags(restore_cmd, restore->devices);
  OnParsed(restore_cmd, table, [restore] { return RunRestore(*restore); });
}

}  // namespace uvm::cli
