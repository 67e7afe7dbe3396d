#include "cli/exit_status.h"

#include <cstdio>

#include "base/log.h"

namespace uvm::cli {

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
