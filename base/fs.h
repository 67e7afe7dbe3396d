// File system helpers: bounded reads, atomic writes, a self-removing temporary directory, removal
// that never follows a symlink (image content is untrusted), the tail of a log for an error
// message, and where the running binary and other programs are.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace uvm {

// The whole file, refused when larger than `max` bytes.
Result<std::string> ReadFileLimited(const std::string& path, size_t max);

// The same for a file whose size stat does not tell (procfs, a pipe): read to its end.
Result<std::string> ReadToEndLimited(const std::string& path, size_t max);
// What `fd` gives from where it is to its end (stdin, a memfd); `what` names it in errors.
Result<std::string> ReadFdToEnd(int fd, const std::string& what, size_t max);

// Opens `rel` below directory `dir` for reading; symlinks are followed only while they stay
// below `dir` (openat2 RESOLVE_BENEATH), so names taken from an image cannot reach other files.
Result<UniqueFd> OpenBeneath(const std::string& dir, const std::string& rel);
Result<std::string> ReadFileBeneath(const std::string& dir, const std::string& rel, size_t max);

// Writes `path` through a temporary file in the same directory, fsync and rename: readers see
// the old content or the new, never a part.
Result<void> WriteFileAtomic(const std::string& path, std::string_view content);

// Removes `name` in directory `dirfd` and everything below it; symlinks are removed, not
// followed. A missing `name` is not an error.
Result<void> RemoveTreeAt(int dirfd, const std::string& name);
Result<void> RemoveTree(const std::string& path);

// Opens the directory `components` below `root_fd`, one component at a time with O_NOFOLLOW, so
// a symlink planted by an image cannot redirect the walk outside the root.
Result<UniqueFd> OpenDirBeneath(int root_fd, const std::vector<std::string>& components);

// A directory created with mkdtemp (mode 0700) under `parent`, removed with its content when the
// object goes away unless Release()d.
class TempDir {
 public:
  static Result<TempDir> Create(const std::string& parent, const std::string& prefix);
  // The directory `path` itself (mode 0700), which must not exist yet: for names the caller
  // chose (a run's id).
  static Result<TempDir> CreateNamed(const std::string& path);
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }
  // Keeps the directory (e.g. after renaming it into place); returns its path.
  std::string Release() { return std::exchange(path_, {}); }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Creates `path` and its parents (mode 0755 / `mode` for the last) if missing.
Result<void> MakeDirs(const std::string& path, mode_t mode = 0755);

// The last `max` bytes of the file at `path` ("..." in front when cut; "" when unreadable): a VM
// console or a log for an error message. Reads only the tail, however long the file.
std::string FileTail(const std::string& path, size_t max);

// The directory holding the running binary (build/ in a source tree).
std::string SelfDir();

// The built-in images (guest kernel, agent initramfs, busybox rootfs, the lab): `images` beside
// the binary in a build tree (build/images), PREFIX/lib/uvm/images for a binary installed in
// PREFIX/bin by `make install`.
std::string ImagesDirOf(const std::string& binary_dir);

// The full path of an executable `name` found in $PATH, as a shell would run it.
std::optional<std::string> FindInPath(const std::string& name);

}  // namespace uvm
