// The device flags of `uvm boot` and `uvm snapshot restore` parsed into the typed specs the VMM
// takes: `--disk PATH[,ro]`, `--net TAP[,mac=XX:XX:XX:XX:XX:XX]` and `--share HOSTDIR,tag=TAG[,ro]`
// (README contract).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "devices/virtio/block/disk.h"
#include "devices/virtio/fs/share_spec.h"
#include "devices/virtio/net/net_config.h"

namespace uvm::cli {

// PATH, then optionally ",ro" (or ",rw", the default).
Result<devices::virtio::block::DiskSpec> ParseDiskFlag(std::string_view spec);

// TAP[,mac=ADDR]: a valid interface name (net::CheckTapName); without mac=, the MAC derived from
// the tap's name (net::DefaultMac).
Result<devices::virtio::net::NetSpec> ParseNetFlag(std::string_view text);

// HOSTDIR,tag=TAG[,ro|,rw]: an existing directory (made absolute) shared as TAG (fs::CheckTag).
Result<devices::virtio::fs::ShareSpec> ParseShareFlag(std::string_view text);

// Every --share, in order; a tag given twice is refused.
Result<std::vector<devices::virtio::fs::ShareSpec>> ParseShareFlags(
    const std::vector<std::string>& flags);

// Every --disk, in order; an error names the flag.
Result<std::vector<devices::virtio::block::DiskSpec>> ParseDiskFlags(
    const std::vector<std::string>& flags);

}  // namespace uvm::cli
