// `uvm boot`: boot a Linux kernel directly in 64-bit mode and relay its serial console.
#include <optional>

#include "base/mapped_file.h"
#include "boot/boot_params.h"
#include "cli/command.h"
#include "cli/exit_status.h"
#include "cli/vm_flags.h"
#include "runtime/paths.h"
#include "runtime/vm_shape.h"
#include "vmm/linux_vm.h"

namespace uvm::cli {
namespace {

struct BootOptions {
  std::string kernel;
  std::string initrd;
  std::string cmdline;
  VmDeviceFlags devices;
  uint64_t memory_mib = 512;
  int cpus = 1;
};

Result<int> RunBoot(const BootOptions& o) {
  UVM_CHECK(runtime::ValidateVmShape(o.memory_mib, o.cpus));
  vmm::LinuxVmConfig config;
  UVM_TRY(MappedFile kernel, Context(MappedFile::Open(o.kernel), "--kernel " + o.kernel));
  config.kernel = kernel.bytes();
  config.kernel_fd = kernel.fd();
  std::optional<MappedFile> initrd;
  if (!o.initrd.empty()) {
    UVM_TRY(initrd, Context(MappedFile::Open(o.initrd), "--initrd " + o.initrd));
    config.initrd = initrd->bytes();
  }
  config.cmdline = runtime::kBaseCmdline;
  if (!o.cmdline.empty()) config.cmdline += " " + o.cmdline;
  UVM_CHECK(Context(boot::CheckCmdline(config.cmdline), "--cmdline"));
  UVM_CHECK(ApplyVmDeviceFlags(o.devices, config));
  config.memory_bytes = o.memory_mib << 20;
  config.cpus = o.cpus;
  UVM_TRY(vmm::LinuxVmResult r, vmm::RunLinuxVm(config));
  return ExitStatusOf(r);
}

}  // namespace

void RegisterBootCommand(CommandTable& table) {
  auto o = std::make_shared<BootOptions>();
  auto cmd = table.root.Sub("boot", "Boot a Linux kernel and relay its serial console");
  cmd.Option("--kernel", o->kernel, "vmlinux (ELF) or bzImage").Required();
  cmd.Option("--initrd", o->initrd, "initial ramdisk");
  cmd.Option("--cmdline", o->cmdline,
             "appended to the default command line: " + std::string(runtime::kBaseCmdline));
  AddVmDeviceFlags(cmd, o->devices);
  cmd.Option("--memory", o->memory_mib, "guest RAM in MiB").ShowDefault();
  cmd.Option("--cpus", o->cpus, "vCPUs (1-16)").ShowDefault();
  OnParsed(cmd, table, [o] { return RunBoot(*o); });
}

}  // namespace uvm::cli
