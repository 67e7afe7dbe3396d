#include "devices/virtio/block/disk.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>

#include "base/log.h"

namespace uvm::devices::virtio::block {

std::array<uint8_t, kBlockIdBytes> MakeDiskId(uint64_t dev, uint64_t ino) {
  char text[64];
  int n = std::snprintf(text, sizeof text, "uvm-%llx-%llx", static_cast<unsigned long long>(dev),
                        static_cast<unsigned long long>(ino));
  if (n < 0 || static_cast<size_t>(n) > kBlockIdBytes) {
    // FNV-1a over the 16 bytes of (dev, ino).
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t v : {dev, ino}) {
      for (int i = 0; i < 8; ++i) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
      }
    }
    n = std::snprintf(text, sizeof text, "uvm-%016llx", static_cast<unsigned long long>(h));
  }
  std::array<uint8_t, kBlockIdBytes> id{};
  std::memcpy(id.data(), text, std::min<size_t>(static_cast<size_t>(n), kBlockIdBytes));
  return id;
}

Result<Disk> Disk::Open(const DiskSpec& spec) {
  const std::string what = "disk image " + spec.path;
  Disk disk;
  disk.path_ = spec.path;
  disk.read_only_ = spec.read_only;
  disk.fd_.Reset(::open(spec.path.c_str(), (spec.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!disk.fd_.valid()) {
    // O_RDWR on a directory fails with EISDIR; O_RDONLY succeeds and is caught below.
    if (errno == EISDIR) return Err(what + ": is a directory, expected a raw image file");
    if (errno == EROFS || errno == EACCES) {
      return ErrnoErr(what + (spec.read_only ? "" : " (use PATH,ro to attach it read-only)"));
    }
    return ErrnoErr(what);
  }
  struct stat st;
  if (::fstat(disk.fd_.get(), &st) < 0) return ErrnoErr(what + ": fstat");
  uint64_t bytes = 0;
  if (S_ISDIR(st.st_mode)) return Err(what + ": is a directory, expected a raw image file");
  if (S_ISREG(st.st_mode)) {
    bytes = static_cast<uint64_t>(st.st_size);
  } else if (S_ISBLK(st.st_mode)) {
    if (::ioctl(disk.fd_.get(), BLKGETSIZE64, &bytes) < 0) return ErrnoErr(what + ": BLKGETSIZE64");
  } else {
    return Err(what + ": not a regular file or block device");
  }
  disk.capacity_sectors_ = bytes / kSectorSize;
  if (bytes % kSectorSize != 0) {
    Log(LogLevel::kWarn, what + ": size " + std::to_string(bytes) +
                             " is not a multiple of 512; the last " +
                             std::to_string(bytes % kSectorSize) + " bytes are not visible");
  }
  disk.id_ = MakeDiskId(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
  return disk;
}

}  // namespace uvm::devices::virtio::block
