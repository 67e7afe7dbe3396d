// uvm's exit statuses (like docker's) and the status of `uvm boot` and `uvm snapshot restore` for
// how their VM ended.
#pragma once

#include "base/result.h"
#include "vmm/linux_vm.h"

namespace uvm::cli {

// 125 when uvm itself fails (126/127, a command that cannot be run or is not found, come from the
// container: agent::ShellExitCode).
inline constexpr int kExitUvmError = 125;
// `uvm boot` when the guest crashed (panic, triple fault): distinct from uvm's own errors.
inline constexpr int kExitGuestCrashed = 1;

// 0 after a guest reboot or power-off (or the status byte the guest wrote to the debug-exit
// port), 128+N after host signal N, 1 after a guest crash (said on stderr); after a save, 0 and
// "saved to DIR" on stderr; an error for the VMM's own failures.
Result<int> ExitStatusOf(const vmm::LinuxVmResult& result);

}  // namespace uvm::cli
