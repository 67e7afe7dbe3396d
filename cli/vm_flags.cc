#include "cli/vm_flags.h"

#include <unistd.h>

#include "cli/device_flags.h"

namespace uvm::cli {

void AddVmDeviceFlags(Command& command, VmDeviceFlags& flags) {
  command.Option("--disk", flags.disks, "PATH[,ro] (virtio-blk)");
  command.Option(
      "--net", flags.net_tap,
      "TAP[,mac=XX:XX:XX:XX:XX:XX]: a virtio-net device on this tap (created if missing)");
  command.Option("--share", flags.shares,
                 "HOSTDIR,tag=TAG[,ro]: a host directory the guest mounts with `mount -t virtiofs "
                 "TAG DIR` (virtio-fs; repeatable)");
  command.Option("--vsock", flags.vsock_uds, "unix socket for the vsock device");
  command.Option("--api-sock", flags.api_sock,
                 "control socket: `uvm snapshot save --api-sock PATH DIR` saves the VM");
}

Result<void> ApplyVmDeviceFlags(const VmDeviceFlags& flags, vmm::LinuxVmConfig& config) {
  UVM_TRY(config.disks, ParseDiskFlags(flags.disks));
  if (!flags.net_tap.empty()) {
    UVM_TRY(auto net, Context(ParseNetFlag(flags.net_tap), "--net"));
    config.nets.push_back(std::move(net));
  }
  UVM_TRY(config.shares, ParseShareFlags(flags.shares));
  config.vsock_uds = flags.vsock_uds;
  config.api_sock = flags.api_sock;
  config.console_in = STDIN_FILENO;
  config.console_out = STDOUT_FILENO;
  return {};
}

}  // namespace uvm::cli
