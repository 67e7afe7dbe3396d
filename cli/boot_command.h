// `uvm boot`: boot a Linux kernel directly in 64-bit mode and relay its serial console.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "vmm/linux_vm.h"

namespace uvm::cli {

// Always on the guest's command line; --cmdline is appended (later parameters win in Linux).
// reboot=k: reboot through the i8042 reset line uvm emulates; panic=1: a panicked guest resets
// after 1 s so uvm can end (it reports the panic it saw on the console).
inline constexpr char kDefaultCmdline[] = "console=ttyS0 reboot=k panic=1 io_delay=none";

struct BootOptions {
  std::string kernel;
  std::string initrd;
  std::string cmdline;
  std::vector<std::string> disks;
  std::string net_tap;
  std::string vsock_uds;
  std::string api_sock;  // control socket: `SAVE <dir>` saves the VM (vmm/control_socket.h)
  uint64_t memory_mib = 512;
  int cpus = 1;
};

// Returns uvm's exit status: 0 after a guest reboot or power-off (or the status byte the guest
// wrote to the debug-exit port), 1 after a guest crash; an error for uvm's own failures.
Result<int> RunBoot(const BootOptions& options);

// Checks --cpus and --memory against uvm's limits and this host's RAM.
Result<void> ValidateShape(uint64_t memory_mib, int cpus);

// uvm boot's (and uvm snapshot restore's) exit status for how the VM ended; after a save, 0 and
// "saved to DIR" on stderr.
Result<int> ExitStatusOf(const vmm::LinuxVmResult& result);

}  // namespace uvm::cli
