#include "cli/file_util.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/unique_fd.h"

namespace uvm::cli {

Result<std::vector<uint8_t>> ReadWholeFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoErr("cannot open");
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) return ErrnoErr("stat");
  if (!S_ISREG(st.st_mode)) return Err("not a regular file");
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoErr("read");
    }
    if (n == 0) return Err("file shrank while being read");
    done += static_cast<size_t>(n);
  }
  return data;
}

std::string SelfDir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace uvm::cli
