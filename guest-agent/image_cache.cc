#include "guest-agent/image_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <vector>

#include "base/unique_fd.h"
#include "guest-agent/container_root.h"

namespace uvm::agent {
namespace {

// Reads `fd` to its end; the bytes only matter for the page cache they fill.
bool ReadToEnd(int fd) {
  static thread_local char buf[64 * 1024];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0;
  }
}

std::string Key(const Rootfs& fs) { return fs.device + "\n" + fs.fstype; }

}  // namespace

Result<ImagePrepared> WarmTree(const std::string& dir, uint64_t budget) {
  struct stat top {};
  if (lstat(dir.c_str(), &top) < 0) return ErrnoErr("warming " + dir);
  if (!S_ISDIR(top.st_mode)) return Err("warming " + dir + ": not a directory");
  ImagePrepared done;
  std::deque<std::string> dirs{dir};
  while (!dirs.empty()) {
    const std::string here = std::move(dirs.front());
    dirs.pop_front();
    DIR* d = opendir(here.c_str());
    if (!d) continue;  // unreadable: nothing to warm there
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      const std::string path = here + "/" + name;
      struct stat st {};
      if (lstat(path.c_str(), &st) < 0 || st.st_dev != top.st_dev) continue;
      if (S_ISDIR(st.st_mode)) {
        dirs.push_back(path);
        continue;
      }
      if (!S_ISREG(st.st_mode)) continue;
      const auto size = static_cast<uint64_t>(st.st_size);
      if (size > budget - done.bytes) continue;
      UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME));
      if (!fd.valid()) fd.Reset(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      if (!fd.valid() || !ReadToEnd(fd.get())) continue;
      done.files++;
      done.bytes += size;
    }
  }
  return done;
}

Result<ImagePrepared> ImageCache::Prepare(const Rootfs& fs, uint64_t warm_bytes) {
  UVM_CHECK(ValidateRootfs(fs));
  std::string where;
  {
    std::lock_guard lock(mu_);
    auto it = mounts_.find(Key(fs));
    if (it != mounts_.end()) {
      where = it->second;
    } else {
      UVM_CHECK(WaitForDisk(fs.device, kDiskTimeout));
      if (mkdir(dir_.c_str(), 0700) < 0 && errno != EEXIST) return ErrnoErr("mkdir " + dir_);
      where = dir_ + "/image-" + std::to_string(mounts_.size());
      if (mkdir(where.c_str(), 0755) < 0 && errno != EEXIST) return ErrnoErr("mkdir " + where);
      if (mount(fs.device.c_str(), where.c_str(), fs.fstype.c_str(), MS_RDONLY, nullptr) < 0) {
        auto failed = ErrnoErr("mounting " + fs.device + " (" + fs.fstype + ") on " + where);
        rmdir(where.c_str());
        return failed;
      }
      mounts_.emplace(Key(fs), where);
    }
  }
  return WarmTree(where, warm_bytes);
}

std::optional<std::string> ImageCache::Find(const Rootfs& fs) const {
  std::lock_guard lock(mu_);
  auto it = mounts_.find(Key(fs));
  if (it == mounts_.end()) return std::nullopt;
  return it->second;
}

}  // namespace uvm::agent
