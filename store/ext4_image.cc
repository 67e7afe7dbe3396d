#include "store/ext4_image.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <set>
#include <utility>

#include "base/log.h"
#include "base/unique_fd.h"

extern char** environ;

namespace uvm::store {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kInodeBytes = 256;

uint64_t BlocksFor(uint64_t bytes) { return (bytes + kBlock - 1) / kBlock; }

Result<std::string> FindTool(const std::string& name) {
  // root's PATH has the sbin directories, a user's often does not.
  const char* path = std::getenv("PATH");
  std::string dirs = std::string(path ? path : "") + ":/usr/sbin:/sbin:/usr/bin:/bin";
  for (size_t pos = 0; pos < dirs.size();) {
    size_t end = dirs.find(':', pos);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(pos, end - pos) + "/" + name;
    if (end > pos && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    pos = end + 1;
  }
  return Err(name + " not found: install e2fsprogs");
}

}  // namespace

Result<TreeSize> MeasureTree(const std::string& dir) {
  namespace fs = std::filesystem;
  TreeSize size;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::error_code ec;
  auto it = fs::recursive_directory_iterator(dir, fs::directory_options::none, ec);
  if (ec) return Err(dir + ": " + ec.message());
  size.inodes = 1;
  size.blocks = 1;
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return Err(dir + ": " + ec.message());
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0) return ErrnoErr(it->path().string());
    if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !seen.insert({st.st_dev, st.st_ino}).second) {
      continue;
    }
    ++size.inodes;
    if (S_ISREG(st.st_mode)) {
      size.blocks += BlocksFor(static_cast<uint64_t>(st.st_size));
    } else if (S_ISDIR(st.st_mode)) {
      size.blocks += BlocksFor(static_cast<uint64_t>(st.st_size));
    } else if (S_ISLNK(st.st_mode) && st.st_size >= 60) {
      ++size.blocks;  // shorter targets live in the inode ("fast symlinks")
    }
  }
  if (ec) return Err(dir + ": " + ec.message());
  return size;
}

uint64_t ImageBytesFor(const TreeSize& s) {
  // Data plus an eighth for extent trees and directory growth, the inode tables, and a fixed
  // allowance for superblocks, group descriptors and bitmaps; in whole MiB.
  uint64_t bytes =
      s.blocks * kBlock + s.blocks * kBlock / 8 + (s.inodes + 1024) * kInodeBytes + (8ull << 20);
  return (bytes + (1 << 20) - 1) & ~uint64_t{(1 << 20) - 1};
}

Result<void> RunTool(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoErr("pipe");
  UniqueFd rd(fds[0]), wr(fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, wr.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, wr.get(), 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  wr.Reset();
  if (rc != 0) return ErrnoErr("starting " + argv[0], rc);
  std::string output;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (output.size() < 64 * 1024) output.append(buf, static_cast<size_t>(n));
  }
  int status;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoErr("waiting for " + argv[0]);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  // The tool's last non-empty line usually says what went wrong.
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  std::string last =
      output.substr(output.rfind('\n') == std::string::npos ? 0 : output.rfind('\n') + 1);
  return Err(argv[0] + " failed" + (last.empty() ? std::string() : ": " + last));
}

Result<void> BuildExt4(const std::string& dir, const std::string& out) {
  UVM_TRY(std::string mke2fs, FindTool("mke2fs"));
  UVM_TRY(TreeSize size, MeasureTree(dir));
  uint64_t bytes = ImageBytesFor(size);
  const uint64_t inodes = size.inodes + size.inodes / 16 + 64;
  Result<void> r;
  // The estimate is generous; should mke2fs still run out of space, try twice more with double.
  for (int attempt = 0; attempt < 3; ++attempt, bytes *= 2) {
    ::unlink(out.c_str());
    r = RunTool({mke2fs,
                 "-q",
                 "-F",
                 "-t",
                 "ext4",
                 "-O",
                 "^has_journal,^resize_inode",
                 "-b",
                 "4096",
                 "-I",
                 "256",
                 "-m",
                 "0",
                 "-N",
                 std::to_string(inodes),
                 "-L",
                 "uvm-image",
                 "-E",
                 "lazy_itable_init=0,nodiscard",
                 "-d",
                 dir,
                 out,
                 std::to_string(bytes / 1024) + "k"});
    if (r) break;
    Log(LogLevel::kDebug,
        "mke2fs with " + std::to_string(bytes >> 20) + " MiB: " + r.error().message);
  }
  if (!r) {
    ::unlink(out.c_str());
    return Context(r, "building the ext4 image");
  }
  if (::chmod(out.c_str(), 0444) != 0) return ErrnoErr(out);
  return {};
}

}  // namespace uvm::store
