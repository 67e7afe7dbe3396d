#include "cli/boot_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "base/log.h"
#include "base/mapped_file.h"
#include "boot/boot_params.h"
#include "cli/exit_codes.h"
#include "runtime/paths.h"
#include "runtime/vm_shape.h"
#include "vmm/linux_vm.h"

namespace uvm::cli {

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
  config.disks = o.disks;
  config.vsock_uds = o.vsock_uds;
  config.api_sock = o.api_sock;
  if (!o.net_tap.empty()) config.nets.push_back(o.net_tap);
  config.memory_bytes = o.memory_mib << 20;
  config.cpus = o.cpus;
  config.console_in = STDIN_FILENO;
  config.console_out = STDOUT_FILENO;

  UVM_TRY(vmm::LinuxVmResult r, vmm::RunLinuxVm(config));
  return ExitStatusOf(r);
}

Result<int> ExitStatusOf(const vmm::LinuxVmResult& r) {
  const vmm::VmExit& e = r.exit;
  if (r.panicked) {
    std::fprintf(stderr, "uvm: the guest kernel panicked (see its console output above)\n");
    return kExitGuestCrashed;
  }
  switch (e.kind) {
    case vmm::ExitKind::kReset:
    case vmm::ExitKind::kPowerOff:
    case vmm::ExitKind::kHalted:
      Log(LogLevel::kInfo, e.detail);
      return e.status;
    case vmm::ExitKind::kHostSignal:
      return 128 + e.status;
    case vmm::ExitKind::kTripleFault:
    case vmm::ExitKind::kGuestCrash:
      std::fprintf(stderr, "uvm: %s\n", e.detail.c_str());
      return kExitGuestCrashed;
    case vmm::ExitKind::kSave:
      std::fprintf(stderr, "uvm: saved to %s\n", r.saved_to.c_str());
      return 0;
    case vmm::ExitKind::kError:
      return Err(e.detail);
  }
  return Err("unknown VM exit");
}

}  // namespace uvm::cli
