#include "cli/boot_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "base/log.h"
#include "base/mapped_file.h"
#include "boot/boot_params.h"
#include "boot/layout.h"
#include "cli/exit_codes.h"
#include "vmm/linux_vm.h"

namespace uvm::cli {

Result<void> ValidateShape(uint64_t memory_mib, int cpus) {
  if (cpus < 1 || cpus > boot::kMaxCpus) {
    return Err("--cpus " + std::to_string(cpus) + ": must be 1 to " +
               std::to_string(boot::kMaxCpus));
  }
  if ((memory_mib << 20) < boot::kMinRamBytes) {
    return Err("--memory " + std::to_string(memory_mib) + ": a guest needs at least " +
               std::to_string(boot::kMinRamBytes >> 20) + " MiB");
  }
  const uint64_t host_bytes =
      static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (memory_mib > (1ull << 20) || (memory_mib << 20) > host_bytes) {
    return Err("--memory " + std::to_string(memory_mib) + ": more than this host's " +
               std::to_string(host_bytes >> 20) + " MiB of RAM");
  }
  return {};
}

Result<int> RunBoot(const BootOptions& o) {
  UVM_CHECK(ValidateShape(o.memory_mib, o.cpus));
  vmm::LinuxVmConfig config;
  UVM_TRY(MappedFile kernel, Context(MappedFile::Open(o.kernel), "--kernel " + o.kernel));
  config.kernel = kernel.bytes();
  config.kernel_fd = kernel.fd();
  std::optional<MappedFile> initrd;
  if (!o.initrd.empty()) {
    UVM_TRY(initrd, Context(MappedFile::Open(o.initrd), "--initrd " + o.initrd));
    config.initrd = initrd->bytes();
  }
  config.cmdline = kDefaultCmdline;
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
