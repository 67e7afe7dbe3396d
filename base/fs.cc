#include "base/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "base/log.h"

namespace uvm {

namespace {

Result<std::string> ReadFdLimited(const UniqueFd& fd, const std::string& path, size_t max) {
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoErr(path);
  if (!S_ISREG(st.st_mode)) return Err(path + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max) {
    return Err(path + ": " + std::to_string(st.st_size) + " bytes, more than the " +
               std::to_string(max) + " allowed");
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoErr(path);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

}  // namespace

Result<std::string> ReadFdToEnd(int fd, const std::string& what, size_t max) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoErr(what);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max) {
      return Err(what + ": more than the " + std::to_string(max) + " bytes allowed");
    }
  }
}

Result<std::string> ReadToEndLimited(const std::string& path, size_t max) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoErr(path);
  return ReadFdToEnd(fd.get(), path, max);
}

Result<std::string> ReadFileLimited(const std::string& path, size_t max) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoErr(path);
  return ReadFdLimited(fd, path, max);
}

Result<UniqueFd> OpenBeneath(const std::string& dir, const std::string& rel) {
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd.valid()) return ErrnoErr(dir);
  struct open_how how {};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, dfd.get(), rel.c_str(), &how, sizeof how);
  if (fd < 0 && errno == EXDEV) return Err(rel + ": points outside the image");
  if (fd < 0) return ErrnoErr(rel);
  return UniqueFd(static_cast<int>(fd));
}

Result<std::string> ReadFileBeneath(const std::string& dir, const std::string& rel, size_t max) {
  UVM_TRY(UniqueFd fd, OpenBeneath(dir, rel));
  return ReadFdLimited(fd, rel, max);
}

Result<void> WriteFileAtomic(const std::string& path, std::string_view content) {
  std::string tmp = path + ".tmp-XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd.valid()) return ErrnoErr("creating a temporary file for " + path);
  auto fail = [&](const std::string& what) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoErr(what, err);
  };
  if (::fchmod(fd.get(), 0644) != 0) return fail(tmp);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("writing " + tmp);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("fsync " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("renaming " + tmp + " to " + path);
  return {};
}

Result<void> RemoveTreeAt(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return ErrnoErr("removing " + name);
  }
  if (S_ISDIR(st.st_mode)) {
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ErrnoErr("removing " + name);
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
      ::close(fd);
      return ErrnoErr("removing " + name);
    }
    std::vector<std::string> children;
    while (struct dirent* e = ::readdir(dir)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") children.emplace_back(n);
    }
    Result<void> r;
    for (const std::string& child : children) {
      r = RemoveTreeAt(::dirfd(dir), child);
      if (!r) break;
    }
    ::closedir(dir);
    if (!r) return r;
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0) return ErrnoErr("removing " + name);
    return {};
  }
  if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoErr("removing " + name);
  }
  return {};
}

Result<void> RemoveTree(const std::string& path) { return RemoveTreeAt(AT_FDCWD, path); }

Result<UniqueFd> OpenDirBeneath(int root_fd, const std::vector<std::string>& components) {
  UniqueFd cur(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  if (!cur.valid()) return ErrnoErr("dup");
  for (const std::string& c : components) {
    UniqueFd next(::openat(cur.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return ErrnoErr(c);
    cur = std::move(next);
  }
  return cur;
}

Result<TempDir> TempDir::Create(const std::string& parent, const std::string& prefix) {
  std::string tmpl = parent + "/" + prefix + "XXXXXX";
  if (!::mkdtemp(tmpl.data())) return ErrnoErr("creating a temporary directory in " + parent);
  return TempDir(tmpl);
}

Result<TempDir> TempDir::CreateNamed(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0) return ErrnoErr("creating " + path);
  return TempDir(path);
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  if (auto r = RemoveTree(path_); !r) {
    Log(LogLevel::kWarn, "could not remove " + path_ + ": " + r.error().message);
  }
}

Result<void> MakeDirs(const std::string& path, mode_t mode) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), pos == path.size() ? mode : 0755) != 0 && errno != EEXIST) {
      return ErrnoErr("creating " + prefix);
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoErr(path);
  if (!S_ISDIR(st.st_mode)) return Err(path + ": not a directory");
  return {};
}

std::string FileTail(const std::string& path, size_t max) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0) return "";
  const off_t size = st.st_size;
  const off_t from = size > static_cast<off_t>(max) ? size - static_cast<off_t>(max) : 0;
  std::string out(static_cast<size_t>(size - from), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n =
        ::pread(fd.get(), out.data() + done, out.size() - done, from + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return from > 0 ? "..." + out : out;
}

std::string SelfDir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string ImagesDirOf(const std::string& binary_dir) {
  const std::string beside = binary_dir + "/images";
  struct stat st;
  if (::stat(beside.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return beside;
  const auto slash = binary_dir.rfind('/');
  const std::string prefix = slash == std::string::npos ? "." : binary_dir.substr(0, slash);
  const std::string installed = prefix + "/lib/uvm/images";
  if (::stat(installed.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return installed;
  return beside;  // neither: errors then name the build tree's place (`make images` fills it)
}

std::optional<std::string> FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  const std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t pos = 0; pos <= dirs.size();) {
    size_t end = dirs.find(':', pos);
    if (end == std::string::npos) end = dirs.size();
    // An empty entry means the current directory.
    std::string candidate = (end > pos ? dirs.substr(pos, end - pos) : ".") + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    pos = end + 1;
  }
  return std::nullopt;
}

}  // namespace uvm
