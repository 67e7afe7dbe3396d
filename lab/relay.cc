#include "lab/relay.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "lab/monitor.h"
#include "lab/protocol.h"

namespace uvm::lab {
namespace {

constexpr size_t kConsoleKeepBytes = 64 * 1024;

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
    auto next_tick = Clock::now();
    while (qemu_running) {
      // Once QEMU has been killed (stall, --timeout, signal) it is only waited for.
      const bool killed = out_.killed_stalled || out_.timed_out_after_s || out_.interrupted_by;
      if (!killed && Clock::now() >= next_tick) {
        next_tick = Clock::now() + kTick;
        Poke();
        if (stall.Stalled(Clock::now())) OnStall(stall);
      }
      int wait_ms = static_cast<int>(kTick / std::chrono::milliseconds(1));
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
  // Each tick pokes L1 and samples QEMU's run time.
  static constexpr auto kTick = std::chrono::milliseconds(lab::kPokeEveryMs);

  // The byte for the lost wake-up described in lab/protocol.h. The socket is never waited on: if
  // L1 has stopped reading, the pokes already queued will do.
  void Poke() { (void)!send(q_.ctl_port.get(), &lab::kPoke, 1, MSG_DONTWAIT | MSG_NOSIGNAL); }

  // The first stall (QEMU idle despite the pokes) is reported with L1's CPU and
  // interrupt-controller state, and the run goes on in case L1 comes back (QEMU itself may have
  // been held up); a second stall ends the run.
  void OnStall(StallDetector& stall) {
    ++out_.stalls;
    std::string report = "uvm lab: L1 stalled: QEMU used no CPU for " +
                         std::to_string(StallDetector::kWindow.count()) + " s (stall " +
                         std::to_string(out_.stalls) + ")\n";
    for (const char* what : {"info registers", "info lapic", "info pic", "info irq"}) {
      report += std::string("--- ") + what + " ---\n" + AskMonitor(q_.monitor.get(), what);
    }
    if (out_.stalls == 1) {
      report += "uvm lab: still poking L1; a second stall ends the run\n";
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

}  // namespace

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

Result<Outcome> RelayUntilQemuExits(Qemu& qemu, int sigfd, int timeout_s, bool verbose,
                                    bool stdin_closed) {
  Relay relay(qemu, verbose, stdin_closed);
  return relay.Run(sigfd, timeout_s);
}

}  // namespace uvm::lab
