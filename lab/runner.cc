// `uvm lab`: starts QEMU (software emulation with SVM) on the lab's L1 kernel (lab/qemu.h), hands
// it the job through a private directory on the host's root (which L1 sees over 9p), and relays
// the command's stdin, stdout and stderr and its exit status (lab/relay.h). The wire protocol is
// in lab/protocol.h.
#include "lab/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/unique_fd.h"
#include "lab/protocol.h"
#include "lab/qemu.h"
#include "lab/relay.h"

extern char** environ;

namespace uvm::lab {
namespace {

namespace fs = std::filesystem;

constexpr size_t kConsoleTailLines = 40;

Result<void> WriteFile(const fs::path& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  if (!(f << data).flush()) return Err("lab: cannot write " + path.string());
  return {};
}

Result<void> WriteJob(const fs::path& dir, const std::vector<std::string>& argv) {
  std::string args, env;
  for (const auto& a : argv) args += a + '\0';
  for (char** e = environ; *e; ++e) env += std::string(*e) + '\0';
  std::error_code ec;
  std::string cwd = fs::current_path(ec).string();
  if (ec) return Err("lab: the current directory: " + ec.message());
  UVM_CHECK(WriteFile(dir / lab::kArgvFile, args));
  UVM_CHECK(WriteFile(dir / lab::kEnvFile, env));
  return WriteFile(dir / lab::kCwdFile, cwd);
}

std::string ConsoleTail(const std::string& console) {
  size_t pos = console.size();
  for (size_t lines = 0; pos > 0 && lines <= kConsoleTailLines;) {
    if (console[--pos] == '\n') ++lines;
  }
  return console.substr(pos == 0 ? 0 : pos + 1);
}

std::string ReadSmallFile(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

Result<int> Decide(Outcome& o, const fs::path& job, bool verbose) {
  if (o.status && !o.interrupted_by && !o.timed_out_after_s && !o.killed_stalled) {
    return *o.status;
  }
  // The console tail is shown for an interrupted run too: it is how a hung lab gets explained.
  std::string why;
  if (o.killed_stalled) {
    why = "L1 stalled (QEMU idle, no interrupt coming) and did not recover; QEMU was killed";
  } else if (o.timed_out_after_s) {
    why = "the command did not finish within " + std::to_string(o.timed_out_after_s) +
          " s (--timeout); QEMU was killed";
  } else if (o.interrupted_by) {
    why = "interrupted by " + std::string(strsignal(o.interrupted_by));
  } else if (o.failure) {
    why = "setting up L1 failed: " + *o.failure;
  } else if (size_t at = o.console.rfind(lab::kConsoleFailurePrefix); at != std::string::npos) {
    size_t from = at + strlen(lab::kConsoleFailurePrefix);
    why = "setting up L1 failed: " +
          o.console.substr(from, o.console.find_first_of("\r\n", from) - from);
  } else {
    int ws = o.qemu_wait_status;
    why = "L1 ended without reporting the command's exit status (QEMU " +
          (WIFSIGNALED(ws) ? "killed by " + std::string(strsignal(WTERMSIG(ws)))
                           : "exit code " + std::to_string(WEXITSTATUS(ws))) +
          ")";
  }
  if (!verbose) {
    std::string tail = "--- uvm lab: last lines of the L1 console ---\n" + ConsoleTail(o.console);
    std::string log = ReadSmallFile(job / "qemu.log");
    if (!log.empty()) tail += "--- uvm lab: QEMU's messages ---\n" + log;
    bool ignored = false;
    Emit(STDERR_FILENO, tail.data(), tail.size(), ignored);
  }
  return Err("lab: " + why);
}

// Blocks SIGINT/SIGTERM (read from a signalfd instead) and SIGPIPE (a closed stdout shows up as
// EPIPE) while the lab runs, and puts the mask back on every path out.
class SignalScope {
 public:
  SignalScope() {
    sigemptyset(&set_);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaddset(&set_, s);
    sigprocmask(SIG_BLOCK, &set_, &original_);
    sigset_t forward = set_;
    sigdelset(&forward, SIGPIPE);
    fd_.Reset(signalfd(-1, &forward, SFD_CLOEXEC));
  }
  ~SignalScope() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    timespec zero = {0, 0};
    while (sigtimedwait(&pipe, nullptr, &zero) > 0) {
    }
    sigprocmask(SIG_SETMASK, &original_, nullptr);
  }
  int fd() const { return fd_.get(); }
  const sigset_t& original() const { return original_; }

 private:
  sigset_t set_, original_;
  UniqueFd fd_;
};

}  // namespace

Result<int> RunInLab(const LabOptions& options) {
  if (options.argv.empty()) return Err("lab: no command given");
  // A closed stdio fd would be reused by the next fd we open (a socket relayed as stdin, say):
  // park /dev/null there first, remembering that stdin was closed.
  bool stdin_closed = fcntl(STDIN_FILENO, F_GETFD) < 0;
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
  }
  UVM_TRY(std::string qemu, FindQemu());
  UVM_TRY(fs::path images, FindImages(options));
  UVM_TRY(TempDir job, Context(TempDir::Create("/tmp", "uvm-lab-"), "lab"));
  UVM_CHECK(WriteJob(job.path(), options.argv));

  SignalScope signals;
  if (signals.fd() < 0) return ErrnoErr("lab: signalfd");
  UVM_TRY(Qemu q, StartQemu(qemu, images, job.path(), options, signals.original()));
  auto outcome =
      RelayUntilQemuExits(q, signals.fd(), options.timeout_s, options.verbose, stdin_closed);
  if (!outcome) {
    kill(q.pid, SIGKILL);
    waitpid(q.pid, nullptr, 0);
    return tl::unexpected(outcome.error());
  }
  return Decide(*outcome, job.path(), options.verbose);
}

}  // namespace uvm::lab
