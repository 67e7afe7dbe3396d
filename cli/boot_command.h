// `uvm boot`: boot a Linux kernel directly in 64-bit mode and relay its serial console.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "vmm/linux_vm.h"

namespace uvm::cli {

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

// uvm boot's (and uvm snapshot restore's) exit status for how the VM ended; after a save, 0 and
// "saved to DIR" on stderr.
Result<int> ExitStatusOf(const vmm::LinuxVmResult& result);

}  // namespace uvm::cli
