// `uvm lab`: starts QEMU (software emulation with SVM) on the lab's L1 kernel, hands it the job
// through a private directory on the host's root (which L1 sees over 9p), and relays the command's
// stdin, stdout and stderr and its exit status. The wire protocol is in lab/protocol.h.
#include "lab/runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/fs.h"
#include "base/unique_fd.h"
#include "lab/protocol.h"

extern char** environ;

namespace uvm::lab {
namespace {

namespace fs = std::filesystem;

constexpr char kQemu[] = "qemu-system-x86_64";
constexpr size_t kConsoleTailLines = 40;
constexpr size_t kConsoleKeepBytes = 64 * 1024;

Result<std::string> FindQemu() {
  if (auto qemu = FindInPath(kQemu)) return *qemu;
  return Err(std::string("lab: ") + kQemu +
             " not found in PATH (install the package qemu-system-x86)");
}

Result<fs::path> FindImages(const LabOptions& options) {
  fs::path dir = options.images_dir;
  if (dir.empty()) dir = fs::path(SelfDir()) / "images";
  dir /= "lab";
  for (const char* file : {"vmlinux", "initramfs.cpio.gz"}) {
    if (access((dir / file).c_str(), R_OK) != 0) {
      return Err("lab: " + (dir / file).string() + " is missing (run `make images`)");
    }
  }
  return dir;
}

// L1 calibrates its TSC against the emulated PIT, and on a busy host that fails ("Fast TSC
// calibration failed"): L1 then has tsc_khz = 0, with which its KVM spins inside KVM_RUN forever.
// Under TCG the guest's TSC is the host's TSC, so its rate is measured here and given to L1
// (tsc_early_khz=). Each sample brackets RDTSC by the clock and keeps the tightest bracket, so a
// preemption between the two reads does not skew the rate.
uint64_t HostTscKhz() {
  auto sample = [](double& ns, uint64_t& tsc) {
    double best = 1e18;
    for (int i = 0; i < 5; ++i) {
      timespec a, b;
      clock_gettime(CLOCK_MONOTONIC_RAW, &a);
      uint64_t t = __rdtsc();
      clock_gettime(CLOCK_MONOTONIC_RAW, &b);
      double na = a.tv_sec * 1e9 + a.tv_nsec, nb = b.tv_sec * 1e9 + b.tv_nsec;
      if (nb - na < best) best = nb - na, ns = (na + nb) / 2, tsc = t;
    }
  };
  double ns0 = 0, ns1 = 0;
  uint64_t tsc0 = 0, tsc1 = 0;
  sample(ns0, tsc0);
  timespec wait = {0, 20'000'000};
  nanosleep(&wait, nullptr);
  sample(ns1, tsc1);
  return static_cast<uint64_t>(static_cast<double>(tsc1 - tsc0) * 1e6 / (ns1 - ns0));
}

// The job directory on the host (mkdtemp, so private to us); removed on every path out.
struct JobDir {
  explicit JobDir(fs::path p) : path(std::move(p)) {}
  JobDir(const JobDir&) = delete;
  ~JobDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

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

// Writes all of data to one of our own stdio fds, which may be non-blocking (inherited O_NONBLOCK).
// A reader that went away (EPIPE) makes the rest of that stream vanish, as with any pipeline.
void Emit(int fd, const char* data, size_t size, bool& broken) {
  while (size > 0 && !broken) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p = {fd, POLLOUT, 0};
      poll(&p, 1, -1);
      continue;
    }
    if (n <= 0) broken = true;
    if (n > 0) data += n, size -= static_cast<size_t>(n);
  }
}

struct Qemu {
  pid_t pid = -1;
  UniqueFd pidfd;
  UniqueFd stdin_port, ctl_port, console;  // our ends of the chardev sockets
  UniqueFd monitor;                        // QEMU's human monitor, for a stalled L1's state
};

Result<Qemu> StartQemu(const std::string& qemu, const fs::path& images, const fs::path& job,
                       const LabOptions& options, const sigset_t& original_mask) {
  int in[2], ctl[2], con[2], mon[2];
  for (int* sv : {in, ctl, con, mon}) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return ErrnoErr("socketpair");
  }
  Qemu q;
  q.stdin_port.Reset(in[0]);
  q.ctl_port.Reset(ctl[0]);
  q.console.Reset(con[0]);
  q.monitor.Reset(mon[0]);
  UniqueFd theirs[4] = {UniqueFd(in[1]), UniqueFd(ctl[1]), UniqueFd(con[1]), UniqueFd(mon[1])};
  fcntl(in[0], F_SETFL, O_NONBLOCK);  // stdin bytes are queued, never blocking the relay

  // tsc=reliable: L1's clocksource watchdog checks the TSC against jiffies, whose ticks TCG delays
  // under load; it then marked the TSC unstable about 2 s into boot and L1 ran on refined-jiffies,
  // without high-resolution timers (every hrtimer in L1, its KVM's emulated LAPIC timers for L2
  // among them, rounded to 4 ms ticks). Under TCG the guest TSC is the host's own, so it is stable.
  std::string append =
      "console=ttyS0 reboot=t panic=-1 tsc=reliable tsc_early_khz=" + std::to_string(HostTscKhz()) +
      " " + lab::kJobParam + job.string() + (options.verbose ? "" : " quiet");
  auto fd = [&](int i) { return std::to_string(theirs[i].get()); };
  // The ELF vmlinux boots through its PVH entry, skipping the firmware and the decompressor: 1.1 s
  // instead of 1.45 s for `true`. thread=multi gives each vCPU a host thread (it measured the same
  // for `true`, 12% faster for the sc.c probe). Option/value pairs read better one to a line.
  // clang-format off
  std::vector<std::string> args = {
      qemu, "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
      "-M", "microvm,acpi=off", "-accel", "tcg,thread=multi", "-cpu", "max",
      "-smp", std::to_string(options.cpus), "-m", std::to_string(options.memory_mib),
      "-kernel", (images / "vmlinux").string(), "-initrd", (images / "initramfs.cpio.gz").string(),
      "-append", append,
      "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
      "-chardev", "socket,id=console,fd=" + fd(2), "-serial", "chardev:console",
      "-fsdev", "local,id=host,path=/,security_model=passthrough,multidevs=remap",
      "-device", "virtio-9p-device,fsdev=host,mount_tag=host",
      "-device", "virtio-serial-device",
      "-chardev", "socket,id=stdin,fd=" + fd(0),
      "-device", std::string("virtserialport,chardev=stdin,name=") + lab::kStdinPort,
      "-chardev", "socket,id=ctl,fd=" + fd(1),
      "-device", std::string("virtserialport,chardev=ctl,name=") + lab::kCtlPort,
      "-chardev", "socket,id=mon,fd=" + fd(3), "-mon", "chardev=mon,mode=readline"};
  // clang-format on
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // QEMU's own messages go to a file shown only when the lab fails.
  UniqueFd log(open((job / "qemu.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  UniqueFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  int status_pipe[2];
  if (!log.valid() || !null.valid() || pipe2(status_pipe, O_CLOEXEC) != 0) {
    return ErrnoErr("lab: preparing QEMU's stdio");
  }
  UniqueFd status_r(status_pipe[0]), status_w(status_pipe[1]);
  pid_t parent = getpid();
  q.pid = fork();
  if (q.pid < 0) return ErrnoErr("lab: fork");
  if (q.pid == 0) {
    // Only async-signal-safe calls from here to exec.
    sigprocmask(SIG_SETMASK, &original_mask, nullptr);
    setpgid(0, 0);                     // a terminal's ^C reaches us; we decide what QEMU gets
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the runner
    if (getppid() != parent) _exit(127);
    for (auto& t : theirs) fcntl(t.get(), F_SETFD, 0);
    dup2(null.get(), 0);
    dup2(log.get(), 1);
    dup2(log.get(), 2);
    execv(argv[0], argv.data());
    int e = errno;
    (void)!write(status_w.get(), &e, sizeof e);
    _exit(127);
  }
  status_w.Reset();
  int exec_errno = 0;
  if (read(status_r.get(), &exec_errno, sizeof exec_errno) == sizeof exec_errno) {
    waitpid(q.pid, nullptr, 0);
    return ErrnoErr("lab: cannot run " + qemu, exec_errno);
  }
  q.pidfd.Reset(static_cast<int>(syscall(SYS_pidfd_open, q.pid, 0)));
  if (!q.pidfd.valid()) {
    kill(q.pid, SIGKILL);
    waitpid(q.pid, nullptr, 0);
    return ErrnoErr("lab: pidfd_open");
  }
  return q;
}

// QEMU's run time so far, all threads, in ns (the first field of each thread's schedstat).
uint64_t QemuRunNs(pid_t pid) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream f(task.path() / "schedstat");
    uint64_t ns = 0;
    if (f >> ns) total += ns;
  }
  return total;
}

// Sends one command to QEMU's human monitor and returns what it printed up to the next prompt
// (at most 3 s). Only used to describe a stalled L1, so a short or missing answer is tolerated.
std::string AskMonitor(int fd, const std::string& command) {
  constexpr std::string_view kPrompt = "(qemu) ";
  std::string out;
  auto read_to_prompt = [&](std::string& into) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (into.size() < kPrompt.size() ||
           into.compare(into.size() - kPrompt.size(), kPrompt.size(), kPrompt) != 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p = {fd, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
      char buf[4096];
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) return;
      into.append(buf, static_cast<size_t>(n));
    }
  };
  // Whatever came before (the greeting, a late answer to an earlier command) is not ours.
  for (pollfd p = {fd, POLLIN, 0}; poll(&p, 1, 0) > 0;) {
    char buf[4096];
    if (read(fd, buf, sizeof buf) <= 0) break;
  }
  std::string line = command + "\n";
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return {};
  read_to_prompt(out);
  // Readline mode echoes the command with terminal escapes; keep the lines after it.
  size_t body = out.find('\n');
  out = body == std::string::npos ? std::string() : out.substr(body + 1);
  if (out.size() >= kPrompt.size()) out.resize(out.size() - kPrompt.size());
  // The vector registers say nothing about a lost interrupt and are most of `info registers`.
  std::string kept;
  for (size_t at = 0; at < out.size();) {
    size_t end = std::min(out.find('\n', at), out.size() - 1) + 1;
    if (out.compare(at, 3, "YMM") != 0 && out.compare(at, 3, "FPR") != 0) {
      kept.append(out, at, end - at);
    }
    at = end;
  }
  return kept;
}

// An L1 that is alive uses QEMU's CPU all the time: its timers, at idle, cost QEMU about 2 ms of
// run time per second. The lab has wedged with QEMU using none at all (the vCPU thread asleep,
// the main loop waiting forever: L1 halted and no interrupt coming). That is told apart from a
// slow L1 by QEMU's run time over a window.
class StallDetector {
 public:
  static constexpr auto kWindow = std::chrono::seconds(20);
  static constexpr uint64_t kMaxStalledNs = 2'000'000;  // an idle L1 uses ~45 ms per window

  explicit StallDetector(pid_t pid) : pid_(pid) {}

  // Samples QEMU's run time; true if it grew by less than kMaxStalledNs over the last window.
  bool Stalled(std::chrono::steady_clock::time_point now) {
    samples_.push_back({now, QemuRunNs(pid_)});
    while (samples_.size() > 1 && now - samples_[1].at >= kWindow) samples_.pop_front();
    // The sum can drop when one of QEMU's worker threads exits (its run time leaves with it);
    // that is activity, not a stall.
    const uint64_t first = samples_.front().run_ns, last = samples_.back().run_ns;
    return now - samples_.front().at >= kWindow && last >= first && last - first < kMaxStalledNs;
  }
  void Reset() { samples_.clear(); }

 private:
  struct Sample {
    std::chrono::steady_clock::time_point at;
    uint64_t run_ns;
  };
  pid_t pid_;
  std::deque<Sample> samples_;
};

// Everything the relay learned about the run.
struct Outcome {
  std::optional<int> status;           // from the kExit frame
  std::optional<std::string> failure;  // from a kLabFailure frame, or a protocol error
  int interrupted_by = 0;              // SIGINT/SIGTERM that made us kill QEMU
  int timed_out_after_s = 0;           // the watchdog killed QEMU
  int stalls = 0;                      // times L1 was found stalled (StallDetector)
  bool killed_stalled = false;         // ... and QEMU was killed for it
  int qemu_wait_status = 0;
  std::string console;  // the tail of the L1 console
};

class Relay {
 public:
  Relay(Qemu& q, bool verbose, bool stdin_closed) : q_(q), verbose_(verbose) {
    if (stdin_closed) CloseStdin();  // the command reads EOF at once
  }

  Result<Outcome> Run(int sigfd, int timeout_s) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
    bool qemu_running = true;
    StallDetector stall(q_.pid);
    auto next_sample = Clock::now();
    while (qemu_running) {
      // Once QEMU has been killed (stall, --timeout, signal) it is only waited for.
      const bool killed = out_.killed_stalled || out_.timed_out_after_s || out_.interrupted_by;
      if (!killed && Clock::now() >= next_sample) {
        next_sample = Clock::now() + kStallSampleEvery;
        if (stall.Stalled(Clock::now())) OnStall(stall);
      }
      int wait_ms = static_cast<int>(kStallSampleEvery / std::chrono::milliseconds(1));
      if (timeout_s > 0 && !out_.timed_out_after_s) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
          out_.timed_out_after_s = timeout_s;
          kill(q_.pid, SIGKILL);
        } else {
          wait_ms = static_cast<int>(std::min<int64_t>(left.count(), wait_ms));
        }
      }
      bool read_stdin = stdin_open_ && pending_.empty();
      pollfd fds[6] = {{sigfd, POLLIN, 0},
                       {q_.pidfd.get(), POLLIN, 0},
                       {q_.ctl_port.get(), POLLIN, 0},
                       {q_.console.get(), POLLIN, 0},
                       {read_stdin ? STDIN_FILENO : -1, POLLIN, 0},
                       {pending_.empty() ? -1 : q_.stdin_port.get(), POLLOUT, 0}};
      if (poll(fds, 6, wait_ms) < 0) {
        if (errno == EINTR) continue;
        return ErrnoErr("lab: poll");
      }
      if (fds[0].revents) OnSignal(sigfd);
      if (fds[2].revents) ReadCtl();
      if (fds[3].revents) ReadConsole();
      if (fds[4].revents) ReadStdin();
      if (fds[5].revents) WriteStdin();
      if (fds[1].revents) qemu_running = false;
    }
    waitpid(q_.pid, &out_.qemu_wait_status, 0);
    // QEMU is gone: whatever it wrote is in the sockets until EOF.
    while (ReadCtl()) {
    }
    while (ReadConsole()) {
    }
    return std::move(out_);
  }

 private:
  static constexpr auto kStallSampleEvery = std::chrono::seconds(2);

  // The first stall is reported with L1's CPU and interrupt-controller state, and L1 gets an NMI,
  // which leaves HLT; the run goes on if that revives it. A second stall ends the run.
  void OnStall(StallDetector& stall) {
    ++out_.stalls;
    std::string report = "uvm lab: L1 stalled: QEMU used no CPU for " +
                         std::to_string(StallDetector::kWindow.count()) + " s (stall " +
                         std::to_string(out_.stalls) + ")\n";
    for (const char* what : {"info registers", "info lapic", "info pic", "info irq"}) {
      report += std::string("--- ") + what + " ---\n" + AskMonitor(q_.monitor.get(), what);
    }
    if (out_.stalls == 1) {
      AskMonitor(q_.monitor.get(), "nmi");
      report += "uvm lab: sent L1 an NMI\n";
      stall.Reset();
    } else {
      out_.killed_stalled = true;
      kill(q_.pid, SIGKILL);
    }
    bool ignored = false;
    Emit(STDERR_FILENO, report.data(), report.size(), ignored);
  }

  void OnSignal(int sigfd) {
    signalfd_siginfo si;
    if (read(sigfd, &si, sizeof si) != sizeof si) return;
    if (!out_.interrupted_by) out_.interrupted_by = static_cast<int>(si.ssi_signo);
    kill(q_.pid, SIGKILL);  // nothing in L1 needs a clean end: 9p writes are on the host already
  }

  // Returns false at EOF or error.
  bool ReadCtl() {
    char buf[64 * 1024];
    ssize_t n = read(q_.ctl_port.get(), buf, sizeof buf);
    if (n <= 0) return n < 0 && errno == EINTR;
    ctl_.append(buf, static_cast<size_t>(n));
    while (ctl_.size() >= lab::kFrameHeaderSize) {
      uint32_t len = 0;
      for (int i = 0; i < 4; ++i)
        len |= uint32_t{static_cast<unsigned char>(ctl_[1 + i])} << (8 * i);
      if (len > lab::kMaxFramePayload) {
        Protocol("bad frame from L1 (length " + std::to_string(len) + ")");
        return false;
      }
      if (ctl_.size() < lab::kFrameHeaderSize + len) break;
      std::string payload = ctl_.substr(lab::kFrameHeaderSize, len);
      auto type = static_cast<lab::Frame>(ctl_[0]);
      ctl_.erase(0, lab::kFrameHeaderSize + len);
      if (type == lab::Frame::kStdout || type == lab::Frame::kStderr) {
        int i = type == lab::Frame::kStdout ? 0 : 1;
        Emit(i + 1, payload.data(), payload.size(), broken_[i]);
      } else if (type == lab::Frame::kExit && len == 4) {
        uint32_t s = 0;
        for (int i = 0; i < 4; ++i)
          s |= uint32_t{static_cast<unsigned char>(payload[i])} << (8 * i);
        out_.status = static_cast<int>(s);
        Ack();
      } else if (type == lab::Frame::kLabFailure) {
        out_.failure = payload;
        Ack();
      } else {
        Protocol("unknown frame type " + std::to_string(static_cast<int>(type)) + " from L1");
        return false;
      }
    }
    return true;
  }

  void Ack() { (void)!write(q_.ctl_port.get(), &lab::kAck, 1); }

  void Protocol(const std::string& what) {
    if (!out_.failure) out_.failure = what;
    kill(q_.pid, SIGKILL);
  }

  bool ReadConsole() {
    char buf[16 * 1024];
    ssize_t n = read(q_.console.get(), buf, sizeof buf);
    if (n <= 0) return n < 0 && errno == EINTR;
    if (verbose_) Emit(STDERR_FILENO, buf, static_cast<size_t>(n), broken_[1]);
    out_.console.append(buf, static_cast<size_t>(n));
    if (out_.console.size() > 2 * kConsoleKeepBytes) out_.console.erase(0, kConsoleKeepBytes);
    return true;
  }

  void ReadStdin() {
    char buf[64 * 1024];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) return CloseStdin();
    pending_.assign(buf, static_cast<size_t>(n));
  }

  void WriteStdin() {
    ssize_t n = send(q_.stdin_port.get(), pending_.data(), pending_.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n < 0) {  // QEMU is going away; the command can no longer read anything
      pending_.clear();
      stdin_open_ = false;
      return;
    }
    pending_.erase(0, static_cast<size_t>(n));
    if (pending_.empty() && !stdin_open_) CloseStdin();
  }

  // EOF for the command: a half-close, so QEMU still reads what is queued and then sees EOF.
  // Closing the socket outright would let QEMU see a hang-up and drop the queued bytes.
  void CloseStdin() {
    stdin_open_ = false;
    if (pending_.empty()) shutdown(q_.stdin_port.get(), SHUT_WR);
  }

  Qemu& q_;
  bool verbose_;
  bool stdin_open_ = true;
  std::string pending_;  // stdin bytes read but not yet taken by QEMU
  std::string ctl_;      // a partial frame
  bool broken_[2] = {false, false};
  Outcome out_;
};

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
  char tmpl[] = "/tmp/uvm-lab-XXXXXX";
  if (!mkdtemp(tmpl)) return ErrnoErr("lab: mkdtemp /tmp/uvm-lab-XXXXXX");
  JobDir job(tmpl);
  UVM_CHECK(WriteJob(job.path, options.argv));

  SignalScope signals;
  if (signals.fd() < 0) return ErrnoErr("lab: signalfd");
  UVM_TRY(Qemu q, StartQemu(qemu, images, job.path, options, signals.original()));
  Relay relay(q, options.verbose, stdin_closed);
  auto outcome = relay.Run(signals.fd(), options.timeout_s);
  if (!outcome) {
    kill(q.pid, SIGKILL);
    waitpid(q.pid, nullptr, 0);
    return tl::unexpected(outcome.error());
  }
  return Decide(*outcome, job.path, options.verbose);
}

}  // namespace uvm::lab
