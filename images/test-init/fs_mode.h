// `uvmtest=fs` for the test init: the operations of a virtio-fs share as a Linux guest performs
// them. Mounts tag "share" at /mnt (read-write) and tag "rosh" at /ro (the host shares it
// read-only), then prints one line per step, "UVMTEST fs STEP=RESULT" (RESULT "ok", a value, or
// the errno's name), for the host to compare with its own view:
//   read       the content of /mnt/from-host (the host wrote it)
//   ops        mkdir g; create g/file and write "guest data", fsync; ftruncate to 5; chmod 0640;
//              chown 1000:1000; utimensat mtime 1234567890; symlink g/link -> ../from-host; link
//              g/hard; rename g/file -> g/renamed; mkfifo g/fifo; unlink to-unlink; rmdir
//              to-rmdir; fallocate g/big 1 MiB; copy_file_range from-host -> g/copy ("ok" or the
//              first failing operation and its errno)
//   xattr      setxattr trusted.uvm=v on g/renamed, then getxattr of it: "v", or the errno (the
//              host's filesystem may have no xattrs: the guest gets the host's answer)
//   via-link   the content read through g/link (the guest follows the symlink)
//   seek-hole  lseek(SEEK_HOLE) on g/renamed (5: the end of its data)
//   list       the names in g, sorted, comma-separated
//   statfs     "ok" when the share reports a block size
//   escape     opening /mnt/escape, a host symlink to a path outside the share: resolved by the
//              guest in its own root, so ENOENT
//   ro-create  creating a file on the read-only share: EROFS
// then "UVMTEST fs done" and powers off. Included by test_init.cc only.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace fs_mode {

inline void Say(const std::string& step, const std::string& result) {
  std::printf("UVMTEST fs %s=%s\n", step.c_str(), result.c_str());
  std::fflush(stdout);
}

inline std::string ErrName(int err) {
  switch (err) {
    case ENOENT:
      return "ENOENT";
    case EROFS:
      return "EROFS";
    case EACCES:
      return "EACCES";
    case EPERM:
      return "EPERM";
    case EOPNOTSUPP:
      return "EOPNOTSUPP";
    case EINVAL:
      return "EINVAL";
    case EIO:
      return "EIO";
    case ELOOP:
      return "ELOOP";
    default:
      return "errno" + std::to_string(err);
  }
}

inline std::string ReadAll(const char* path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return ErrName(errno);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

// The mutating steps; "ok" or "STEP:ERRNO" for the first one that failed.
inline std::string Ops() {
  auto fail = [](const char* what) { return std::string(what) + ":" + ErrName(errno); };
  if (mkdir("/mnt/g", 0755) < 0) return fail("mkdir");
  int fd = open("/mnt/g/file", O_CREAT | O_WRONLY | O_EXCL, 0600);
  if (fd < 0) return fail("create");
  const char data[] = "guest data";
  if (write(fd, data, sizeof data - 1) != sizeof data - 1) return fail("write");
  if (fsync(fd) < 0) return fail("fsync");
  if (ftruncate(fd, 5) < 0) return fail("ftruncate");
  close(fd);
  if (chmod("/mnt/g/file", 0640) < 0) return fail("chmod");
  if (chown("/mnt/g/file", 1000, 1000) < 0) return fail("chown");
  timespec times[2] = {{0, UTIME_OMIT}, {1234567890, 0}};
  if (utimensat(AT_FDCWD, "/mnt/g/file", times, 0) < 0) return fail("utimensat");
  if (symlink("../from-host", "/mnt/g/link") < 0) return fail("symlink");
  if (link("/mnt/g/file", "/mnt/g/hard") < 0) return fail("link");
  if (rename("/mnt/g/file", "/mnt/g/renamed") < 0) return fail("rename");
  if (mkfifo("/mnt/g/fifo", 0600) < 0) return fail("mkfifo");
  if (unlink("/mnt/to-unlink") < 0) return fail("unlink");
  if (rmdir("/mnt/to-rmdir") < 0) return fail("rmdir");
  fd = open("/mnt/g/big", O_CREAT | O_RDWR, 0644);
  if (fd < 0 || fallocate(fd, 0, 0, 1 << 20) < 0) return fail("fallocate");
  close(fd);
  int in = open("/mnt/from-host", O_RDONLY);
  int out = open("/mnt/g/copy", O_CREAT | O_WRONLY, 0644);
  if (in < 0 || out < 0) return fail("open-copy");
  if (copy_file_range(in, nullptr, out, nullptr, 1024, 0) < 0) return fail("copy_file_range");
  close(in);
  close(out);
  return "ok";
}

inline int Run() {
  mkdir("/mnt", 0755);
  mkdir("/ro", 0755);
  if (mount("share", "/mnt", "virtiofs", 0, nullptr) < 0) {
    Say("mount", ErrName(errno));
    return 1;
  }
  if (mount("rosh", "/ro", "virtiofs", 0, nullptr) < 0) {
    Say("mount-ro", ErrName(errno));
    return 1;
  }
  Say("read", ReadAll("/mnt/from-host"));
  Say("ops", Ops());
  Say("via-link", ReadAll("/mnt/g/link"));
  char value[8] = {};
  if (setxattr("/mnt/g/renamed", "trusted.uvm", "v", 1, 0) < 0) {
    Say("xattr", ErrName(errno));
  } else {
    const ssize_t n = getxattr("/mnt/g/renamed", "trusted.uvm", value, sizeof value - 1);
    Say("xattr", n < 0 ? ErrName(errno) : std::string(value, static_cast<size_t>(n)));
  }
  int fd = open("/mnt/g/renamed", O_RDONLY);
  Say("seek-hole", fd < 0 ? ErrName(errno) : std::to_string(lseek(fd, 0, SEEK_HOLE)));
  if (fd >= 0) close(fd);
  std::vector<std::string> names;
  if (DIR* d = opendir("/mnt/g")) {
    while (dirent* e = readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
        names.push_back(e->d_name);
      }
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ",") + n;
  Say("list", list);
  struct statfs sfs;
  Say("statfs", statfs("/mnt", &sfs) == 0 && sfs.f_bsize > 0 ? "ok" : ErrName(errno));
  fd = open("/mnt/escape", O_RDONLY);
  Say("escape", fd < 0 ? ErrName(errno) : "opened");
  fd = open("/ro/x", O_CREAT | O_WRONLY, 0644);
  Say("ro-create", fd < 0 ? ErrName(errno) : "created");
  std::printf("UVMTEST fs done\n");
  return 0;
}

}  // namespace fs_mode
