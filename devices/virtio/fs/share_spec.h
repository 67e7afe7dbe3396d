// A host directory shared with a guest: what `uvm boot --share HOSTDIR,tag=TAG[,ro]` (and, later,
// `uvm run -v`) hands the VMM, as a typed value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace uvm::devices::virtio::fs {

struct ShareConfig {
  std::string host_dir;
  bool read_only = false;
  bool allow_devices = false;  // MKNOD of character and block devices
  uint32_t cache_seconds = 1;  // entry and attribute validity in the guest
  size_t max_nodes = 262144;   // the guest's nodes (node_table.h)
  size_t max_open = 32768;     // host descriptors held for them (more are reopened by handle)
  size_t max_handles = 8192;   // host descriptors held for its open files and directories
};

// A tag names the share to `mount -t virtiofs TAG DIR`: 1..36 bytes, printable, no space or
// comma (the mount and --share syntaxes would not survive them). Empty when fine, else why not.
std::string CheckTag(std::string_view tag);

struct ShareSpec {
  std::string tag;  // what the guest mounts: `mount -t virtiofs TAG DIR`
  ShareConfig config;
};

}  // namespace uvm::devices::virtio::fs
