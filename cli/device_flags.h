// The device flags of `uvm boot` and `uvm snapshot restore`, parsed into the typed specs the VMM
// takes: `--disk PATH[,ro]`, `--net TAP[,mac=XX:XX:XX:XX:XX:XX]` (README contract), `--vsock UDS`
// and `--api-sock PATH`.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "devices/virtio/block/disk.h"
#include "devices/virtio/net/net_config.h"
#include "vmm/linux_vm.h"

namespace uvm::cli {

// PATH, then optionally ",ro" (or ",rw", the default).
Result<devices::virtio::block::DiskSpec> ParseDiskFlag(std::string_view spec);

// TAP[,mac=ADDR]: a valid interface name (net::CheckTapName); without mac=, the MAC derived from
// the tap's name (net::DefaultMac).
Result<devices::virtio::net::NetSpec> ParseNetFlag(std::string_view text);

// Every --disk, in order; an error names the flag.
Result<std::vector<devices::virtio::block::DiskSpec>> ParseDiskFlags(
    const std::vector<std::string>& flags);

// A console VM's devices as given on the command line.
struct VmDeviceFlags {
  std::vector<std::string> disks;
  std::string net_tap;
  std::string vsock_uds;
  std::string api_sock;  // control socket: `SAVE <dir>` saves the VM (vmm/control_socket.h)
};

// Adds --disk, --net, --vsock and --api-sock to `command`.
void AddVmDeviceFlags(CLI::App* command, VmDeviceFlags& flags);

// Puts the devices into `config`, and the console on our stdin and stdout.
Result<void> ApplyVmDeviceFlags(const VmDeviceFlags& flags, vmm::LinuxVmConfig& config);

}  // namespace uvm::cli
