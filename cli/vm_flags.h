// The device flags `uvm boot` and `uvm snapshot restore` share: --disk, --net, --share, --vsock
// and --api-sock, added to a command and put into a VM's configuration.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "cli/flags.h"
#include "vmm/linux_vm.h"

namespace uvm::cli {

// A console VM's devices as given on the command line.
struct VmDeviceFlags {
  std::vector<std::string> disks;
  std::string net_tap;
  std::string vsock_uds;
  std::vector<std::string> shares;
  std::string api_sock;  // control socket: `SAVE <dir>` saves the VM (vmm/control_socket.h)
};

// Adds --disk, --net, --share, --vsock and --api-sock to `command`.
void AddVmDeviceFlags(Command& command, VmDeviceFlags& flags);

// Puts the devices into `config`, and the console on our stdin and stdout.
Result<void> ApplyVmDeviceFlags(const VmDeviceFlags& flags, vmm::LinuxVmConfig& config);

}  // namespace uvm::cli
