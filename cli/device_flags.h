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
#include "runtime/volume_spec.h"

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

// `uvm run -v HOSTDIR:TARGET[:ro|:rw]` (docker's syntax for a bind mount): HOSTDIR absolute (a
// relative name would be a docker named volume, which uvm does not have), made if missing as
// docker does, and a directory (uvm shares directories, not single files); TARGET absolute.
Result<runtime::VolumeSpec> ParseVolumeFlag(std::string_view text);

// An existing directory, as an absolute, normalised path (`--rootfs`, a share's HOSTDIR).
Result<std::string> ExistingDirectory(const std::string& path);

// Every --disk, in order; an error names the flag.
Result<std::vector<devices::virtio::block::DiskSpec>> ParseDiskFlags(
    const std::vector<std::string>& flags);

}  // namespace uvm::cli
