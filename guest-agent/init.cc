#include "guest-agent/init.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "guest-agent/oci_bundle.h"

namespace uvm::agent {
namespace {

constexpr char kSwitchedEnv[] = "UVM_AGENT_SWITCHED";

Result<void> CopyFile(const char* from, const char* to) {
  UniqueFd in(open(from, O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return ErrnoErr(std::string("open ") + from);
  struct stat st;
  if (fstat(in.get(), &st) < 0) return ErrnoErr(std::string("stat ") + from);
  UniqueFd out(open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755));
  if (!out.valid()) return ErrnoErr(std::string("create ") + to);
  off_t offset = 0;
  while (offset < st.st_size) {
    ssize_t n = sendfile(out.get(), in.get(), &offset, static_cast<size_t>(st.st_size - offset));
    if (n <= 0) return ErrnoErr(std::string("copy to ") + to);
  }
  return {};
}

bool IsMountPoint(const std::string& name) {
  for (const char* d : {"newroot", "dev", "proc", "sys", "run", "tmp"}) {
    if (name == d) return true;
  }
  return false;
}

// Moves the initramfs's tree under `from` (crun and its libraries besides /init) into `to`: each
// file is copied and then unlinked, so its memory is held once. Directories, regular files and
// symlinks are all the image has.
Result<void> MoveTree(const std::string& from, const std::string& to, bool top) {
  DIR* dir = opendir(from.empty() ? "/" : from.c_str());  // "": the root
  if (!dir) return ErrnoErr("opendir " + from);
  std::vector<std::string> names;
  while (dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name == "." || name == ".." || (top && (IsMountPoint(name) || name == "init"))) continue;
    names.push_back(name);
  }
  closedir(dir);
  for (const auto& name : names) {
    const std::string src = from + "/" + name, dst = to + "/" + name;
    struct stat st;
    if (lstat(src.c_str(), &st) < 0) return ErrnoErr("stat " + src);
    if (S_ISDIR(st.st_mode)) {
      if (mkdir(dst.c_str(), st.st_mode & 07777) < 0 && errno != EEXIST) {
        return ErrnoErr("mkdir " + dst);
      }
      UVM_CHECK(MoveTree(src, dst, false));
      rmdir(src.c_str());
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = readlink(src.c_str(), target, sizeof target - 1);
      if (n < 0) return ErrnoErr("readlink " + src);
      target[n] = '\0';
      if (symlink(target, dst.c_str()) < 0) return ErrnoErr("symlink " + dst);
      unlink(src.c_str());
    } else if (S_ISREG(st.st_mode)) {
      UVM_CHECK(CopyFile(src.c_str(), dst.c_str()));
      chmod(dst.c_str(), st.st_mode & 07777);
      unlink(src.c_str());
    }
  }
  return {};
}

Result<void> MountIfMissing(const char* source, const char* target, const char* type,
                            unsigned long flags, const char* data) {
  mkdir(target, 0755);
  if (mount(source, target, type, flags, data) < 0 && errno != EBUSY) {
    return ErrnoErr(std::string("mounting ") + type + " on " + target);
  }
  return {};
}

// Each controller on its own write: one the kernel lacks must not keep the others off.
void EnableCgroupControllers(const char* subtree_control) {
  for (const char* controller : {"+cpuset", "+cpu", "+io", "+memory", "+pids"}) {
    UniqueFd fd(open(subtree_control, O_WRONLY | O_CLOEXEC));
    if (fd.valid()) (void)!write(fd.get(), controller, strlen(controller));
  }
}

// crun copies its binary into a sealed memfd and re-executes itself from it on every call (its
// defence against CVE-2019-5736, a container overwriting the runtime's binary) unless that binary
// is on a read-only mount. A read-only bind of crun's directory gives the same protection and
// spares every call a second load of crun and its libraries (about 1 s of each crun call in a
// clone in the lab, where each first touch of a clone's page is an emulated nested fault).
Result<void> MakeCrunDirectoryReadOnly() {
  const std::string crun = kCrunPath;
  const std::string dir = crun.substr(0, crun.rfind('/'));
  if (access(crun.c_str(), X_OK) != 0) return {};  // an initramfs without crun (tests)
  if (mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) < 0 ||
      mount(nullptr, dir.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) < 0) {
    return ErrnoErr("binding " + dir + " read-only");
  }
  return {};
}

}  // namespace

Result<void> LeaveInitramfs(char** argv) {
  if (getenv(kSwitchedEnv)) return {};
  struct statfs fs;
  if (statfs("/", &fs) < 0) return ErrnoErr("statfs /");
  if (fs.f_type != RAMFS_MAGIC && fs.f_type != TMPFS_MAGIC) return {};
  mkdir("/newroot", 0755);
  if (mount("tmpfs", "/newroot", "tmpfs", 0, "mode=0755") < 0) return ErrnoErr("mount /newroot");
  UVM_CHECK(CopyFile("/init", "/newroot/init"));
  unlink("/init");  // the initramfs copy would only take memory
  UVM_CHECK(MoveTree("", "/newroot", true));
  for (const char* d :
       {"/newroot/dev", "/newroot/proc", "/newroot/sys", "/newroot/run", "/newroot/tmp"}) {
    mkdir(d, 0755);
  }
  if (chdir("/newroot") < 0) return ErrnoErr("chdir /newroot");
  if (mount(".", "/", nullptr, MS_MOVE, nullptr) < 0) return ErrnoErr("moving the new root");
  if (chroot(".") < 0 || chdir("/") < 0) return ErrnoErr("chroot into the new root");
  setenv(kSwitchedEnv, "1", 1);
  execv("/init", argv);
  return ErrnoErr("re-executing /init");
}

Result<void> MountSystem() {
  UVM_CHECK(MountIfMissing("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"));
  int console = open("/dev/console", O_RDWR | O_NOCTTY);
  if (console >= 0) {
    for (int fd = 0; fd < 3; ++fd) {
      if (fcntl(fd, F_GETFD) < 0) dup2(console, fd);
    }
    if (console > 2) close(console);
  }
  UVM_CHECK(MountIfMissing("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  UVM_CHECK(MountIfMissing("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  UVM_CHECK(MountIfMissing("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                           "ptmxmode=0666,mode=0620"));
  // crun finds the VM's cgroup2 hierarchy where a host has it, with the controllers a
  // container's resources use handed down to the cgroups it makes.
  UVM_CHECK(MountIfMissing("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                           nullptr));
  EnableCgroupControllers("/sys/fs/cgroup/cgroup.subtree_control");
  UVM_CHECK(MountIfMissing("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
  UVM_CHECK(MountIfMissing("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
  UVM_CHECK(MakeCrunDirectoryReadOnly());
  return {};
}

}  // namespace uvm::agent
