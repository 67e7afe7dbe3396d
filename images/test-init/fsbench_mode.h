// `uvmtest=fsbench` for the test init: the guest half of `uvm bench fs` (bench/fs.h). Mounts the
// shared directory with tag "bench" at /mnt, as virtio-fs or as virtio-9p, and runs the phases on
// it. The host's share holds `scratch/` (empty, written by the phases) and `tree/` (a Debian root
// filesystem, only read).
//
// Parameters from the kernel command line (see iobench_mode.h):
//   uvmfs_type=virtiofs|9p  the filesystem to mount (default virtiofs)
//   uvmfs_mib=N             bytes of the sequential phases (MiB)
//   uvmfs_files=N           files of the small-file phase
//
// Phases, in order, each after dropping the guest's page, dentry and inode caches so that every
// phase reaches the device:
//   seq_write   scratch/seq: 1 MiB writes, then fsync (inside the measured time)
//   seq_read    scratch/seq: 1 MiB reads
//   small       scratch/small/N: create each file with 4 KiB of data, then stat each, then unlink
//               each; ops = files
//   tree_stat   a walk of tree/: readdir every directory, lstat every entry; ops = entries
//   tree_read   a walk of tree/ reading every regular file to its end; bytes = bytes read
// Console protocol: iobench_mode.h's UVMIO lines.
// Included by test_init.cc only (the initramfs is built from one translation unit).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "guest-agent/share_readahead.h"
#include "iobench_mode.h"

namespace fsbench_mode {

using iobench_mode::Errno;
using iobench_mode::Outcome;

constexpr size_t kSmallFileBytes = 4096;
constexpr size_t kReadChunk = 1 << 20;

inline void DropCaches() {
  sync();
  int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd >= 0) {
    ssize_t unused = write(fd, "3", 1);
    (void)unused;
    close(fd);
  }
}

// The io bench's sequential loop (1 MiB transfers, fsync after writing) on the share's file.
inline Outcome Sequential(const std::string& path, uint64_t bytes, bool write_phase) {
  int fd = write_phase ? open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644)
                       : open(path.c_str(), O_RDONLY);
  if (fd < 0) return {Errno("open"), 0, 0};
  Outcome o = iobench_mode::Sequential(fd, bytes, write_phase);
  close(fd);
  return o;
}

inline Outcome SmallFiles(const std::string& dir, long files) {
  if (mkdir(dir.c_str(), 0755) != 0) return {Errno("mkdir"), 0, 0};
  std::vector<char> data(kSmallFileBytes, 's');
  auto name = [&](long i) { return dir + "/" + std::to_string(i); };
  for (long i = 0; i < files; ++i) {
    int fd = open(name(i).c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) return {Errno("create"), 0, 0};
    const bool written = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    close(fd);
    if (!written) return {Errno("write"), 0, 0};
  }
  for (long i = 0; i < files; ++i) {
    struct stat st;
    if (lstat(name(i).c_str(), &st) != 0) return {Errno("stat"), 0, 0};
    if (st.st_size != static_cast<off_t>(kSmallFileBytes)) return {"stat: wrong size", 0, 0};
  }
  for (long i = 0; i < files; ++i) {
    if (unlink(name(i).c_str()) != 0) return {Errno("unlink"), 0, 0};
  }
  if (rmdir(dir.c_str()) != 0) return {Errno("rmdir"), 0, 0};
  return {"", static_cast<uint64_t>(files) * kSmallFileBytes, static_cast<uint64_t>(files)};
}

// Walks `dir` depth first without following symlinks: every entry is lstat'ed (ops); with
// `read_files`, every regular file is also read to its end (bytes).
inline bool Walk(const std::string& dir, bool read_files, Outcome& o, std::vector<char>& buf) {
  DIR* d = opendir(dir.c_str());
  if (!d) {
    o.error = Errno(("opendir " + dir).c_str());
    return false;
  }
  bool ok = true;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    const std::string path = dir + "/" + e->d_name;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) {
      o.error = Errno(("lstat " + path).c_str());
      ok = false;
      break;
    }
    ++o.ops;
    if (S_ISDIR(st.st_mode)) {
      if (!(ok = Walk(path, read_files, o, buf))) break;
    } else if (S_ISREG(st.st_mode) && read_files) {
      int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW);
      if (fd < 0) {
        o.error = Errno(("open " + path).c_str());
        ok = false;
        break;
      }
      for (ssize_t n; (n = read(fd, buf.data(), buf.size())) > 0;) o.bytes += n;
      close(fd);
    }
  }
  closedir(d);
  return ok;
}

inline Outcome Tree(const std::string& dir, bool read_files) {
  Outcome o;
  std::vector<char> buf(kReadChunk);
  Walk(dir, read_files, o, buf);
  return o;
}

inline int Run() {
  const std::string type = std::getenv("uvmfs_type") ? std::getenv("uvmfs_type") : "virtiofs";
  const uint64_t bytes = static_cast<uint64_t>(iobench_mode::EnvNumber("uvmfs_mib", 256, 65536))
                         << 20;
  const long files = iobench_mode::EnvNumber("uvmfs_files", 10000, 1000000);
  mkdir("/mnt", 0755);
  // 9p: the msize QEMU's documentation recommends over the 8 KiB default (Linux caps it at what
  // the virtio transport carries), and no guest cache, 9p's default.
  const int rc = type == "9p" ? mount("bench", "/mnt", "9p", 0,
                                      "trans=virtio,version=9p2000.L,msize=512000,cache=none")
                              : mount("bench", "/mnt", "virtiofs", 0, nullptr);
  if (rc != 0) {
    std::printf("UVMIO error mount: %s as %s: %s\n", "bench", type.c_str(), std::strerror(errno));
    return 9;
  }
  // The read-ahead the agent gives its containers' shares (for either virtio-fs device alike).
  mkdir("/sys", 0555);
  mount("sysfs", "/sys", "sysfs", 0, nullptr);
  if (type != "9p" && !uvm::agent::SetShareReadahead("/mnt")) {
    std::printf("UVMIO error readahead: %s\n", std::strerror(errno));
    return 9;
  }
  const std::string seq = "/mnt/scratch/seq";
  bool ok = true;
  auto phase = [&](const char* name, auto&& body) {
    if (!ok) return;
    DropCaches();
    ok = iobench_mode::Phase(name, body);
  };
  phase("seq_write", [&] { return Sequential(seq, bytes, true); });
  phase("seq_read", [&] { return Sequential(seq, bytes, false); });
  if (ok) unlink(seq.c_str());
  phase("small", [&] { return SmallFiles("/mnt/scratch/small", files); });
  phase("tree_stat", [&] { return Tree("/mnt/tree", false); });
  phase("tree_read", [&] { return Tree("/mnt/tree", true); });
  umount("/mnt");
  if (!ok) return 9;
  std::printf("UVMIO end\n");
  std::fflush(stdout);
  return 0;
}

}  // namespace fsbench_mode
