// A disk image for the block device: a raw file (or block device) opened once, read-only or
// read-write, with its size in sectors and a stable id for GET_ID.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"
#include "devices/virtio/block/disk_config.h"
#include "devices/virtio/block/request.h"

namespace uvm::devices::virtio::block {

// A disk image and how the guest may use it.
struct DiskSpec {
  std::string path;
  bool read_only = false;
};

class Disk {
 public:
  // Opens the image (O_RDONLY or O_RDWR, O_CLOEXEC). Capacity is the size in whole 512-byte
  // sectors; a trailing partial sector is not exposed (and is logged).
  static Result<Disk> Open(const DiskSpec& spec);

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  uint64_t capacity_sectors() const { return capacity_sectors_; }
  bool read_only() const { return read_only_; }
  // 20 bytes, zero-padded: "uvm-<dev>-<inode>" in hex, so two disks opened from different files
  // differ and one file keeps its id across runs (a guest may key /dev/disk/by-id on it).
  const std::array<uint8_t, kBlockIdBytes>& id() const { return id_; }
  DiskGeometry geometry() const { return {capacity_sectors_, read_only_}; }

 private:
  UniqueFd fd_;
  std::string path_;
  uint64_t capacity_sectors_ = 0;
  bool read_only_ = false;
  std::array<uint8_t, kBlockIdBytes> id_{};
};

// The GET_ID string for a file on device `dev` with inode `ino`. When the readable form does not
// fit in 20 bytes it becomes "uvm-" and a 64-bit hash of both, rather than a truncation that
// would make ids of neighbouring inodes equal.
std::array<uint8_t, kBlockIdBytes> MakeDiskId(uint64_t dev, uint64_t ino);

}  // namespace uvm::devices::virtio::block
