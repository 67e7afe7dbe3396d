#include "runtime/process_container.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "base/fs.h"
#include "guest-agent/command_check.h"
#include "guest-agent/user_spec.h"

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

  // docker's 127/126 and the agent's line, as in a VM (runc reports both as its own status 1);
  // below a volume, which runc mounts, only runc can tell.
  UVM_TRY(agent::SpawnPlan command, agent::PlanSpawn(spec.exec));
  std::vector<std::string> volume_targets;
  for (const VolumeSpec& v : spec.volumes) volume_targets.push_back(v.target);
  if (auto problem = agent::CheckCommand(rootfs, command, volume_targets)) {
    std::fprintf(stderr, "uvm: %s\n", problem->message.c_str());
    return problem->status;
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
