#include "guest-agent/spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/unique_fd.h"

namespace uvm::agent {
namespace {

enum class Stage : int {
  kSession = 1,
  kStdio,
  kMountPrivate,
  kPivotRoot,
  kMountProc,
  kHostname,
  kCredentials,
  kChdir,
  kExec,
};

struct ChildReport {
  int stage;
  int error;
};

// The child's pointers into the plan, built before clone().
struct ChildArgs {
  const SpawnPlan* plan;
  std::vector<char*> argv, env;
  int report_fd;
};

[[noreturn]] void ChildFail(int fd, Stage stage) {
  ChildReport r{static_cast<int>(stage), errno};
  ssize_t unused = write(fd, &r, sizeof r);
  (void)unused;
  _exit(127);
}

// Runs in the cloned child, which shares the agent's memory: system calls only, nothing that
// allocates or takes a lock.
[[noreturn]] void ChildMain(const ChildArgs& a) {
  const SpawnPlan& p = *a.plan;
  const int fd = a.report_fd;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);  // the agent ignores it; an ignored disposition survives execve

  if (setsid() < 0) ChildFail(fd, Stage::kSession);
  if (p.tty && ioctl(p.stdio[0], TIOCSCTTY, 0) < 0) ChildFail(fd, Stage::kSession);
  for (int i = 0; i < 3; ++i) {
    if (dup2(p.stdio[i], i) < 0) ChildFail(fd, Stage::kStdio);
  }
  if (!p.root.empty()) {
    // Our copy of the mounts must not propagate back to the agent's namespace.
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) {
      ChildFail(fd, Stage::kMountPrivate);
    }
    // pivot_root(".", "."): the old root ends up stacked under the new one and is detached at once.
    if (chdir(p.root.c_str()) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
        umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
      ChildFail(fd, Stage::kPivotRoot);
    }
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0) {
      ChildFail(fd, Stage::kMountProc);
    }
    if (!p.hostname.empty() && sethostname(p.hostname.data(), p.hostname.size()) < 0) {
      ChildFail(fd, Stage::kHostname);
    }
  }
  // Raw system calls, not glibc's setgroups/setgid/setuid: those change the credentials of every
  // thread of the process by signalling the threads glibc knows of — the agent's, in the memory
  // this child shares. In the VM the agent's main thread has tid 1, which in the child's new PID
  // namespace is the child itself, and the wrappers wait forever for an answer.
  if (syscall(SYS_setgroups, 0, nullptr) < 0 || syscall(SYS_setgid, p.credentials.gid) < 0 ||
      syscall(SYS_setuid, p.credentials.uid) < 0) {
    ChildFail(fd, Stage::kCredentials);
  }
  if (chdir(p.cwd.c_str()) < 0) ChildFail(fd, Stage::kChdir);

  // Like execvp: permission problems on one candidate do not hide a later one that works, and
  // are reported only if nothing is found at all.
  bool saw_eacces = false;
  for (const auto& path : p.candidates) {
    execve(path.c_str(), a.argv.data(), a.env.data());
    if (errno == EACCES) {
      saw_eacces = true;
    } else if (errno != ENOENT && errno != ENOTDIR) {
      ChildFail(fd, Stage::kExec);
    }
  }
  errno = saw_eacces ? EACCES : ENOENT;
  ChildFail(fd, Stage::kExec);
}

Exit Failure(const SpawnPlan& plan, Stage stage, int err) {
  Exit e;
  e.error_errno = err;
  const std::string why = std::strerror(err);
  const std::string& cmd = plan.argv[0];
  switch (stage) {
    case Stage::kExec:
      if (err == ENOENT || err == ENOTDIR) {
        e.error = ExecError::kNotFound;
        e.message = cmd.find('/') != std::string::npos
                        ? "'" + cmd + "': no such file or directory"
                        : "'" + cmd + "': executable file not found in $PATH";
      } else {
        e.error = ExecError::kCannotExecute;
        e.message = "cannot execute '" + cmd + "': " + why;
      }
      return e;
    case Stage::kChdir:
      e.message = "cannot enter working directory '" + plan.cwd + "': " + why;
      break;
    case Stage::kCredentials:
      e.message = "cannot switch to uid " + std::to_string(plan.credentials.uid) + " gid " +
                  std::to_string(plan.credentials.gid) + ": " + why;
      break;
    case Stage::kPivotRoot:
      e.message = "pivot_root into the container root failed: " + why;
      break;
    case Stage::kMountProc:
      e.message = "mounting the container's /proc failed: " + why;
      break;
    case Stage::kHostname:
      e.message = "setting the hostname failed: " + why;
      break;
    default:
      e.message = "setting up the container process failed (stage " +
                  std::to_string(static_cast<int>(stage)) + "): " + why;
  }
  e.error = ExecError::kSetup;
  return e;
}

}  // namespace

Result<SpawnPlan> PlanSpawn(const ExecRequest& request) {
  if (request.argv.empty() || request.argv[0].empty()) return Err("exec: argv is empty");
  if (request.cwd.empty() || request.cwd[0] != '/') {
    return Err("exec: working directory '" + request.cwd + "' must be absolute");
  }
  if (!request.hostname.empty() && !request.rootfs) {
    return Err("exec: a hostname needs a rootfs (its own UTS namespace)");
  }
  for (const auto& s : request.argv) {
    if (s.find('\0') != std::string::npos) return Err("exec: argv contains a NUL byte");
  }
  SpawnPlan p;
  p.argv = request.argv;
  p.cwd = request.cwd;
  p.hostname = request.hostname;
  p.tty = request.tty;
  std::string path = kDefaultPath;
  bool has_path = false;
  for (const auto& kv : request.env) {
    if (kv.find('=') == std::string::npos || kv.find('\0') != std::string::npos) {
      return Err("exec: environment entry '" + kv + "' is not KEY=VALUE");
    }
    if (kv.rfind("PATH=", 0) == 0) {
      has_path = true;
      path = kv.substr(5);
    }
    p.env.push_back(kv);
  }
  if (!has_path) p.env.push_back(std::string("PATH=") + kDefaultPath);

  const std::string& cmd = request.argv[0];
  if (cmd.find('/') != std::string::npos) {
    p.candidates.push_back(cmd);
  } else {
    size_t start = 0;
    for (;;) {
      size_t colon = path.find(':', start);
      std::string dir = path.substr(start, colon - start);
      p.candidates.push_back((dir.empty() ? "." : dir) + "/" + cmd);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  return p;
}

SpawnOutcome Spawn(Reaper& reaper, const SpawnPlan& plan, Reaper::OnExit on_exit) {
  SpawnOutcome out;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
    out.failure = Failure(plan, Stage::kSession, errno);
    return out;
  }
  UniqueFd report_read(pipe_fds[0]), report_write(pipe_fds[1]);

  ChildArgs args{&plan, {}, {}, report_write.get()};
  for (const auto& s : plan.argv) args.argv.push_back(const_cast<char*>(s.c_str()));
  args.argv.push_back(nullptr);
  for (const auto& s : plan.env) args.env.push_back(const_cast<char*>(s.c_str()));
  args.env.push_back(nullptr);

  // Like posix_spawn: the child shares our memory (CLONE_VM) on a stack of its own and we are
  // suspended until it execs or exits (CLONE_VFORK), so no page of this multi-threaded process
  // is copied or write-protected. glibc's fork() could not create the PID namespace anyway.
  int flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
  if (!plan.root.empty()) flags |= CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
  constexpr size_t kChildStack = 256 * 1024;
  void* stack = mmap(nullptr, kChildStack, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    out.failure = Failure(plan, Stage::kSession, errno);
    return out;
  }
  int clone_errno = 0;
  out.pid = reaper.Spawn(
      [&]() -> pid_t {
        pid_t pid = clone([](void* a) -> int { ChildMain(*static_cast<const ChildArgs*>(a)); },
                          static_cast<char*>(stack) + kChildStack, flags, &args);
        if (pid < 0) clone_errno = errno;
        return pid;
      },
      std::move(on_exit));
  munmap(stack, kChildStack);
  if (out.pid < 0) {
    out.failure = Failure(plan, Stage::kSession, clone_errno);
    out.failure->message = std::string("clone failed: ") + std::strerror(clone_errno);
    return out;
  }
  report_write.Reset();
  ChildReport r{};
  ssize_t n;
  do {
    n = read(report_read.get(), &r, sizeof r);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof r)) {
    out.failure = Failure(plan, static_cast<Stage>(r.stage), r.error);
  }
  return out;
}

}  // namespace uvm::agent
