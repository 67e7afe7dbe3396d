#include "oci/vm_layout.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "base/fs.h"
#include "base/quoted.h"
#include "oci/router.h"
#include "oci/runtime_log.h"

namespace uvm::oci {

int Fail(const RuntimeArgs& args, const std::string& message) {
  ReportError(args, message);
  return kFailure;
}

Result<Container> Load(const RuntimeArgs& args, const std::string& id) {
  const std::string dir = StateDir(args, id);
  auto text = ReadFileLimited(dir + "/" + kStateFile, 1 << 20);
  if (!text) return Err("container " + id + " does not exist");
  UVM_TRY(VmContainerRecord record, ParseRecord(*text));
  Container c{record, VmStatus::kStopped};
  const auto start = LiveProcessStart(record.pid);
  if (start && *start == record.pid_start) {
    struct stat st;
    if (::stat((dir + "/" + kPausedFile).c_str(), &st) == 0) {
      c.status = VmStatus::kPaused;
    } else if (::stat((dir + "/" + kStartedFile).c_str(), &st) == 0) {
      c.status = VmStatus::kRunning;
    } else {
      c.status = VmStatus::kCreated;
    }
  }
  return c;
}

std::string StateDir(const RuntimeArgs& args, const std::string& id) {
  return VmRoot(args) + "/" + id;
}

bool Forwarded(int signo) {
  return std::find(std::begin(kForwardedSignals), std::end(kForwardedSignals), signo) !=
         std::end(kForwardedSignals);
}

Result<SocketAddress> SocketIn(const std::string& dir, const std::string& name) {
  SocketAddress out;
  out.dir.Reset(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!out.dir.valid()) return ErrnoErr("open " + Quoted(dir));
  out.addr.sun_family = AF_UNIX;
  if (std::snprintf(out.addr.sun_path, sizeof out.addr.sun_path, "/proc/self/fd/%d/%s",
                    out.dir.get(), name.c_str()) >= static_cast<int>(sizeof out.addr.sun_path)) {
    return Err("socket " + Quoted(name) + ": its name is too long");
  }
  return out;
}

// Everything `fd` gives until end of file or `max` bytes, waiting at most `timeout`.
std::string ReadReply(int fd, size_t max, std::chrono::milliseconds timeout, ReplyEnd end) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[512];
  while (out.size() < max) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (end == ReplyEnd::kLine && out.find('\n') != std::string::npos) {
      out.resize(out.find('\n') + 1);
      break;
    }
  }
  return out.substr(0, max);
}

Result<void> BindFiles(const std::vector<FileBind>& binds) {
  for (const FileBind& b : binds) {
    const std::string dir = b.target.substr(0, b.target.rfind('/'));
    Result<void> made = MakeDirs(dir, 0700);
    if (made) {
      UniqueFd target(
          ::open(b.target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!target.valid()) made = ErrnoErr("creating " + Quoted(b.target));
    }
    if (made && ::mount(b.host_file.c_str(), b.target.c_str(), nullptr, MS_BIND, nullptr) < 0) {
      made = ErrnoErr("bind-mounting " + Quoted(b.host_file) + " for the VM");
    }
    if (!made) {
      // Undo those made so far: the caller removes the directory next.
      for (const FileBind& done : binds) {
        if (&done == &b) break;
        ::umount2(done.target.c_str(), MNT_DETACH);
      }
      return made;
    }
  }
  return {};
}

Result<void> RemoveState(const std::string& state_dir) {
  UnbindFiles(state_dir + "/" + kFilesDir);
  return RemoveTree(state_dir);
}

void UnbindFiles(const std::string& files_dir) {
  for (const char* kind : {"/rw", "/ro"}) {
    const std::string base = files_dir + kind;
    DIR* numbered = ::opendir(base.c_str());
    if (!numbered) continue;
    while (dirent* n = ::readdir(numbered)) {
      if (n->d_name[0] == '.') continue;
      const std::string dir = base + "/" + n->d_name;
      DIR* files = ::opendir(dir.c_str());
      if (!files) continue;
      while (dirent* f = ::readdir(files)) {
        if (f->d_name[0] == '.' && (!f->d_name[1] || (f->d_name[1] == '.' && !f->d_name[2]))) {
          continue;
        }
        ::umount2((dir + "/" + f->d_name).c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
      }
      ::closedir(files);
    }
    ::closedir(numbered);
  }
}

}  // namespace uvm::oci
