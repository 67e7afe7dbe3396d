#include "runtime/process_container.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "base/fs.h"
#include "guest-agent/user_spec.h"
#include "store/image_config.h"

namespace uvm::runtime {
namespace {

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

sigset_t ForwardedSet() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : kForwarded) sigaddset(&set, s);
  return set;
}

// A fresh container ID: uvm- and 12 hex digits (docker's short-ID length).
Result<std::string> NewId() {
  unsigned char bytes[6];
  if (::getrandom(bytes, sizeof bytes, 0) != sizeof bytes) return ErrnoErr("getrandom");
  std::string id = "uvm-";
  static const char kHex[] = "0123456789abcdef";
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

// Runs `argv` to completion with stdio going nowhere but its stderr captured; an error with
// that stderr when it fails.
Result<void> RunTool(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return ErrnoErr("pipe");
  UniqueFd err_read(fds[0]), err_write(fds[1]);
  std::vector<char*> args;
  std::vector<std::string> copy = argv;
  for (std::string& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return ErrnoErr("fork");
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(err_write.get(), 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  err_write.Reset();
  std::string err;
  char buf[512];
  ssize_t n;
  while ((n = ::read(err_read.get(), buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (err.size() < 4096) err.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  while (!err.empty() && err.back() == '\n') err.pop_back();
  return Err(argv[0] + " failed" + (err.empty() ? "" : ": " + err));
}

// The run's directory and what it mounted there, undone in reverse on every way out.
class RunDirectory {
 public:
  explicit RunDirectory(std::string path) : path_(std::move(path)) {}
  ~RunDirectory() {
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    (void)RemoveTree(path_);
  }
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;
  const std::string& path() const { return path_; }
  void Mounted(const std::string& where) { mounts_.push_back(where); }

 private:
  std::string path_;
  std::vector<std::string> mounts_;
};

// The image's disk, read-only, under an overlay whose upper layer is the run's.
Result<std::string> MountImage(RunDirectory& run, const std::string& disk) {
  const std::string d = run.path();
  for (const char* sub : {"/lower", "/upper", "/work", "/rootfs"}) {
    if (::mkdir((d + sub).c_str(), 0755) < 0) return ErrnoErr("mkdir " + d + sub);
  }
  // mount(8) sets up the loop device (and frees it at the last unmount: autoclear); noload: a
  // read-only mount never replays the journal.
  UVM_CHECK(RunTool({"mount", "-t", "ext4", "-o", "loop,ro,noload", disk, d + "/lower"}));
  run.Mounted(d + "/lower");
  const std::string options =
      "lowerdir=" + d + "/lower,upperdir=" + d + "/upper,workdir=" + d + "/work";
  if (::mount("overlay", (d + "/rootfs").c_str(), "overlay", 0, options.c_str()) < 0) {
    return ErrnoErr("mounting the container's overlay at " + d + "/rootfs");
  }
  run.Mounted(d + "/rootfs");
  return d + "/rootfs";
}

// Whether `path` inside `rootfs` (resolved as in a chroot: symlinks stay inside, RESOLVE_IN_ROOT)
// is a file, and an executable one.
enum class FileCheck { kMissing, kNotExecutable, kExecutable };
FileCheck CheckInRoot(int root_fd, const std::string& path) {
  struct open_how how {};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how)));
  struct stat st;
  if (!fd.valid() || ::fstat(fd.get(), &st) < 0) return FileCheck::kMissing;
  if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) return FileCheck::kNotExecutable;
  return FileCheck::kExecutable;
}

// docker's statuses for a command that cannot start, which runc reports only as its own failure
// (status 1): 127 when it is not found (in the container's PATH, for a bare name), 126 when it
// is not an executable file, with the line the agent prints in a VM; 0 when it can start (or
// when only runc can tell: a path below a volume).
int CommandProblem(const std::string& rootfs, const agent::ExecRequest& exec,
                   const std::vector<VolumeSpec>& volumes, std::string* why) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid() || exec.argv.empty()) return 0;  // runc says what is wrong
  const std::string& cmd = exec.argv[0];
  std::vector<std::string> candidates;
  if (cmd.find('/') != std::string::npos) {
    candidates.push_back(cmd[0] == '/' ? cmd : exec.cwd + "/" + cmd);
  } else {
    std::string path = std::string(store::kDefaultPath).substr(5);  // after "PATH="
    for (const std::string& kv : exec.env) {
      if (kv.rfind("PATH=", 0) == 0) path = kv.substr(5);
    }
    for (size_t at = 0; at <= path.size();) {
      const size_t end = std::min(path.find(':', at), path.size());
      const std::string dir = path.substr(at, end - at);
      candidates.push_back((dir.empty() ? "." : dir) + "/" + cmd);
      at = end + 1;
    }
  }
  bool seen = false;
  for (const std::string& candidate : candidates) {
    // A volume is mounted only by runc: what is below it is runc's to find.
    for (const VolumeSpec& v : volumes) {
      if (candidate.rfind(v.target + "/", 0) == 0) return 0;
    }
    const FileCheck check = CheckInRoot(root.get(), candidate);
    if (check == FileCheck::kExecutable) return 0;
    seen = seen || check == FileCheck::kNotExecutable;
  }
  if (seen) {
    *why = "cannot execute '" + cmd + "': Permission denied";
    return 126;
  }
  *why = cmd.find('/') != std::string::npos ? "'" + cmd + "': no such file or directory"
                                            : "'" + cmd + "': executable file not found in $PATH";
  return 127;
}

}  // namespace

Result<int> RunProcessContainer(const ProcessRunSpec& spec) {
  if (::geteuid() != 0) {
    return Err(ErrorCode::kUnsupported,
               "--isolation process mounts the image and runs runc: uvm must run as root");
  }
  UVM_TRY(std::string id, NewId());
  const std::string process_root = spec.state_root + "/process";
  UVM_CHECK(MakeDirs(process_root, 0700));
  if (::mkdir((process_root + "/" + id).c_str(), 0700) < 0) {
    return ErrnoErr("mkdir " + process_root + "/" + id);
  }
  RunDirectory run(process_root + "/" + id);
  std::string rootfs = spec.rootfs_dir;
  if (rootfs.empty()) {
    UVM_TRY(rootfs, MountImage(run, spec.image_disk));
  }

  std::string why;
  if (const int status = CommandProblem(rootfs, spec.exec, spec.volumes, &why); status != 0) {
    std::fprintf(stderr, "uvm: %s\n", why.c_str());
    return status;
  }
  ProcessBundleSpec bundle{spec.exec, 0, 0, rootfs, spec.volumes, spec.limits};
  UVM_TRY(agent::Credentials user, agent::ResolveUser(rootfs, spec.exec.user));
  bundle.uid = user.uid;
  bundle.gid = user.gid;
  if (bundle.exec.hostname.empty()) bundle.exec.hostname = id.substr(4);
  UVM_CHECK(WriteFileAtomic(run.path() + "/config.json", ProcessConfigJson(bundle)));

  const std::vector<std::string> runc_words = {spec.runc, "--root", process_root + "/runc"};
  std::vector<std::string> argv = runc_words;
  for (const char* w : {"run", "--bundle"}) argv.push_back(w);
  argv.push_back(run.path());
  argv.push_back(id);
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  const sigset_t forwarded = ForwardedSet();
  sigset_t before;
  ::sigprocmask(SIG_BLOCK, &forwarded, &before);
  // runc gets a process group of its own unless it reads the host's terminal (-t, or -i at a
  // terminal: a background group reading it would be stopped). Then a ^C there reaches uvm
  // alone, which passes it on once; otherwise runc hears it too and uvm only counts it.
  const bool own_group = !spec.exec.tty && !(spec.interactive && ::isatty(STDIN_FILENO));
  const pid_t pid = ::fork();
  if (pid < 0) return ErrnoErr("fork");
  if (pid == 0) {
    if (own_group) ::setpgid(0, 0);
    if (!spec.interactive) {
      const int null = ::open("/dev/null", O_RDONLY);
      if (null >= 0) ::dup2(null, 0);
    }
    ::sigprocmask(SIG_SETMASK, &before, nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "uvm: running %s: %s\n", args[0], std::strerror(errno));
    ::_exit(125);
  }
  if (own_group) ::setpgid(pid, pid);  // also here, so no ^C falls between fork and exec
  int terminations = 0;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    timespec tick{0, 50 * 1000 * 1000};
    siginfo_t info{};
    const int signo = ::sigtimedwait(&forwarded, &info, &tick);
    if (signo <= 0) continue;
    const bool termination = signo == SIGINT || signo == SIGTERM || signo == SIGHUP;
    const bool runc_heard_it = !own_group && info.si_code == SI_KERNEL;  // the terminal's
    if (termination && ++terminations > 1) {
      // runc passes signals on, but a SIGKILL would end runc, not the container.
      std::vector<std::string> kill = runc_words;
      for (const char* w : {"kill", id.c_str(), "KILL"}) kill.push_back(w);
      (void)RunTool(kill);
    } else if (!runc_heard_it) {
      ::kill(pid, signo);
    }
  }
  ::sigprocmask(SIG_SETMASK, &before, nullptr);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

}  // namespace uvm::runtime
