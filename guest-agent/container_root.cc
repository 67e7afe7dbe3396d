#include "guest-agent/container_root.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <thread>

#include "base/unique_fd.h"
#include "guest-agent/share_readahead.h"

namespace uvm::agent {
namespace {

Result<void> MakeDir(const std::string& path, mode_t mode = 0755) {
  if (mkdir(path.c_str(), mode) < 0 && errno != EEXIST) return ErrnoErr("mkdir " + path);
  return {};
}

// The size of `device` in bytes; 0 while it is not there yet (no node, or a driver without a disk).
Result<uint64_t> DiskSize(const std::string& device) {
  UniqueFd fd(open(device.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT || errno == ENXIO || errno == ENODEV) return 0;
    return ErrnoErr("open " + device);
  }
  struct stat st {};
  if (fstat(fd.get(), &st) < 0) return ErrnoErr("stat " + device);
  if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  if (!S_ISBLK(st.st_mode)) return Err(device + " is not a block device");
  uint64_t bytes = 0;
  if (ioctl(fd.get(), BLKGETSIZE64, &bytes) < 0) return ErrnoErr("BLKGETSIZE64 " + device);
  return bytes;
}

}  // namespace

Result<void> WaitForDisk(const std::string& device, std::chrono::milliseconds timeout) {
  constexpr auto kPoll = std::chrono::milliseconds(5);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    UVM_TRY(uint64_t bytes, DiskSize(device));
    if (bytes > 0) return {};
    if (std::chrono::steady_clock::now() >= deadline) {
      return Err("disk " + device + " did not appear (or stayed empty) within " +
                 std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(kPoll);
  }
}

bool IsShareTag(const std::string& tag) {
  return !tag.empty() && tag.size() <= 36 && tag.find_first_of(",/ ") == std::string::npos;
}

Result<void> ValidateRootfs(const Rootfs& fs) {
  if (fs.fstype == kVirtiofs) {
    if (!IsShareTag(fs.device)) return Err("rootfs share tag '" + fs.device + "' is not a tag");
  } else if (fs.device.empty() || fs.device[0] != '/') {
    return Err("rootfs device '" + fs.device + "' must be an absolute path");
  }
  if (fs.fstype.empty() || fs.fstype.find_first_of(",/") != std::string::npos) {
    return Err("rootfs fstype '" + fs.fstype + "' is not a filesystem type");
  }
  for (const Volume& v : fs.volumes) {
    if (!IsShareTag(v.tag)) return Err("volume share tag '" + v.tag + "' is not a tag");
    if (v.target.size() < 2 || v.target[0] != '/' || v.target.size() > 4096) {
      return Err("volume target '" + v.target + "' must be an absolute path below /");
    }
    for (size_t at = 1; at <= v.target.size();) {
      const size_t end = std::min(v.target.find('/', at), v.target.size());
      const std::string part = v.target.substr(at, end - at);
      if (part == "..") return Err("volume target '" + v.target + "' has a '..'");
      at = end + 1;
    }
  }
  return {};
}

Result<UniqueFd> OpenMountPoint(const std::string& root, const std::string& target) {
  UniqueFd dir(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return ErrnoErr("open " + root);
  for (size_t at = 1; at <= target.size();) {
    const size_t end = std::min(target.find('/', at), target.size());
    const std::string part = target.substr(at, end - at);
    at = end + 1;
    if (part.empty() || part == ".") continue;
    UniqueFd next(openat(dir.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid() && errno == ENOENT) {
      if (mkdirat(dir.get(), part.c_str(), 0755) < 0 && errno != EEXIST) {
        return ErrnoErr("mkdir " + target + " (at '" + part + "')");
      }
      next.Reset(openat(dir.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    if (!next.valid()) {
      // A symlink here could lead the mount anywhere in the VM: refused, not followed.
      return ErrnoErr("mount point " + target + " (at '" + part + "': not a directory)");
    }
    dir = std::move(next);
  }
  return dir;
}

ContainerRoot::ContainerRoot(ContainerRoot&& o) noexcept
    : dir_(std::move(o.dir_)), root_(std::move(o.root_)), mounts_(std::move(o.mounts_)) {
  o.dir_.clear();
  o.mounts_.clear();
}

ContainerRoot::~ContainerRoot() {
  for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) umount2(it->c_str(), MNT_DETACH);
  // rmdir, never a recursive delete: if a detach failed, the image stays untouched.
  if (!dir_.empty()) {
    for (const char* sub : {"/image", "/rw", "/root", ""}) rmdir((dir_ + sub).c_str());
  }
}

Result<ContainerRoot> ContainerRoot::Mount(const Rootfs& fs, const std::string& dir,
                                           const std::optional<std::string>& prepared_image,
                                           bool system_dirs) {
  UVM_CHECK(ValidateRootfs(fs));
  const bool share = fs.fstype == kVirtiofs;
  if (!prepared_image && !share) UVM_CHECK(WaitForDisk(fs.device, kDiskTimeout));
  ContainerRoot r;
  UVM_CHECK(MakeDir(dir, 0700));
  r.dir_ = dir;
  const std::string image = prepared_image ? *prepared_image : dir + "/image";
  const std::string rw = dir + "/rw", root = dir + "/root";
  r.root_ = root;
  UVM_CHECK(MakeDir(root));

  auto mount_at = [&r](const std::string& source, const std::string& target, const char* type,
                       unsigned long flags, const std::string& data) -> Result<void> {
    if (mount(source.c_str(), target.c_str(), type, flags, data.empty() ? nullptr : data.c_str())) {
      return ErrnoErr(std::string("mounting ") + source + " (" + type + ") on " + target);
    }
    r.mounts_.push_back(target);
    return {};
  };

  if (share) {
    // The host directory itself, read-write: what the container writes is in it.
    UVM_CHECK(mount_at(fs.device, root, kVirtiofs, 0, ""));
    SetShareReadahead(root.c_str());
  } else {
    UVM_CHECK(MakeDir(rw));
    if (!prepared_image) UVM_CHECK(MakeDir(image));
    if (!prepared_image) UVM_CHECK(mount_at(fs.device, image, fs.fstype.c_str(), MS_RDONLY, ""));
    UVM_CHECK(mount_at("tmpfs", rw, "tmpfs", MS_NOSUID | MS_NODEV,
                       "mode=0755,size=" + std::to_string(fs.overlay_mib) + "m"));
    UVM_CHECK(MakeDir(rw + "/upper"));
    UVM_CHECK(MakeDir(rw + "/work"));
    UVM_CHECK(mount_at("overlay", root, "overlay", 0,
                       "lowerdir=" + image + ",upperdir=" + rw + "/upper,workdir=" + rw + "/work"));
  }

  if (system_dirs) {
    // A small /dev of its own: the agent's devtmpfs would show the VM's disks to the container.
    const std::string dev = root + "/dev";
    UVM_CHECK(MakeDir(dev));
    UVM_CHECK(mount_at("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=1m"));
    struct Node {
      const char* name;
      unsigned major, minor;
    } nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                 {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
    for (const auto& n : nodes) {
      std::string path = dev + "/" + n.name;
      if (mknod(path.c_str(), S_IFCHR | 0666, makedev(n.major, n.minor)) < 0) {
        return ErrnoErr("mknod " + path);
      }
      chmod(path.c_str(), 0666);  // mknod's mode is filtered by the umask
    }
    struct Link {
      const char* target;
      const char* name;
    } links[] = {{"/proc/self/fd", "fd"},
                 {"/proc/self/fd/0", "stdin"},
                 {"/proc/self/fd/1", "stdout"},
                 {"/proc/self/fd/2", "stderr"},
                 {"pts/ptmx", "ptmx"}};
    for (const auto& l : links) {
      std::string path = dev + "/" + l.name;
      if (symlink(l.target, path.c_str()) < 0) return ErrnoErr("symlink " + path);
    }
    UVM_CHECK(MakeDir(dev + "/pts"));
    UVM_CHECK(mount_at("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                       "newinstance,ptmxmode=0666,mode=0620"));
    UVM_CHECK(MakeDir(dev + "/shm", 01777));
    UVM_CHECK(mount_at("shm", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m"));

    UVM_CHECK(MakeDir(root + "/proc", 0555));  // the child mounts its own (its PID namespace)
    UVM_CHECK(MakeDir(root + "/sys", 0555));
    UVM_CHECK(mount_at("sysfs", root + "/sys", "sysfs",
                       MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, ""));
  }
  for (const Volume& v : fs.volumes) {
    UVM_TRY(UniqueFd point, Context(OpenMountPoint(root, v.target), "volume " + v.target));
    const std::string at = "/proc/self/fd/" + std::to_string(point.get());
    if (mount(v.tag.c_str(), at.c_str(), kVirtiofs, v.read_only ? MS_RDONLY : 0, nullptr) < 0) {
      return ErrnoErr("mounting share " + v.tag + " on " + v.target);
    }
    r.mounts_.push_back(root + v.target);
    // By path, after the mount: a symlink swapped in since could only point the tuning at
    // another FUSE mount's read-ahead.
    SetShareReadahead((root + v.target).c_str());
  }
  return r;
}

}  // namespace uvm::agent
