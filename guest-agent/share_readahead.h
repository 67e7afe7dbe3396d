// The read-ahead of a virtio-fs mount in the guest. Header-only and free of the agent's other
// code: the test init (images/test-init), built on its own as a static binary, uses it too, so the
// `uvm bench fs` guest reads shares as the agent's containers do.
//
// Linux gives a FUSE mount's backing device the default 128 KiB of read-ahead, so a sequential
// read of a shared file reaches the device as 128 KiB READs, and each READ costs a notification
// and an interrupt whatever its size. uvm's device takes 1 MiB per request (max_pages in its
// FUSE_INIT reply); a 1 MiB window lets the guest use that: an eighth of the round trips.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>

namespace uvm::agent {

inline constexpr unsigned kShareReadaheadKib = 1024;
inline constexpr long kFuseSuperMagic = 0x65735546;

// Sets the read-ahead of the FUSE filesystem mounted at `mountpoint` (sysfs must be mounted at
// /sys). A tuning: false if it could not be set, and nothing else changes.
inline bool SetShareReadahead(const char* mountpoint, unsigned kib = kShareReadaheadKib) {
  struct statfs fs;
  struct stat st;
  if (statfs(mountpoint, &fs) != 0 || fs.f_type != kFuseSuperMagic) return false;
  if (stat(mountpoint, &st) != 0) return false;
  char path[64], value[16];
  std::snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
                minor(st.st_dev));
  const int len = std::snprintf(value, sizeof value, "%u", kib);
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, value, static_cast<size_t>(len)) == len;
  close(fd);
  return ok;
}

}  // namespace uvm::agent
