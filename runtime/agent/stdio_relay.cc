#include "runtime/agent/stdio_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "base/unique_fd.h"

namespace uvm::agent {
namespace {

sigset_t RelayedSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&set, s);
  return set;
}

// One direction: bytes read from `from` are written to `to` before `from` is read again.
struct Pipe {
  int from = -1;
  int to = -1;
  bool open = false;
  std::string pending;
  size_t done = 0;
};

// Returns false on a write error that ends this direction (the reader is gone).
bool Flush(Pipe& p) {
  while (p.done < p.pending.size()) {
    ssize_t n = ::write(p.to, p.pending.data() + p.done, p.pending.size() - p.done);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return true;
      return false;
    }
    p.done += static_cast<size_t>(n);
  }
  p.pending.clear();
  p.done = 0;
  return true;
}

}  // namespace

void BlockRelayedSignals() {
  sigset_t set = RelayedSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Result<void> RelayStdio(const RelayFds& fds, const RelayHooks& hooks) {
  // A host reader that went away (uvm ... | head) must not kill uvm before the exit status.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t set = RelayedSignals();
  UniqueFd sigfd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigfd.valid()) return ErrnoErr("signalfd");

  // The container's streams never block the relay: a blocking write of stdin while the process
  // waits for us to read its stdout would deadlock both.
  for (int fd : {fds.container_in, fds.container_out, fds.container_err}) {
    if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  Pipe in{fds.host_in, fds.container_in, fds.host_in >= 0 && fds.container_in >= 0, {}, 0};
  Pipe out{fds.container_out, fds.host_out, fds.container_out >= 0, {}, 0};
  Pipe err{fds.container_err, fds.host_err, fds.container_err >= 0, {}, 0};
  // No stdin (no -i): the process sees EOF at once.
  if (!in.open && fds.container_in >= 0) ::shutdown(fds.container_in, SHUT_WR);
  auto end_input = [&] {
    in.open = false;
    ::shutdown(fds.container_in, SHUT_WR);
  };
  // A write failed: the container's stdin or the host reader of an output went away. Stop that
  // direction, but keep draining output so the process is not blocked on a full stream.
  auto stop_writing = [&](int i, Pipe& p) {
    if (i == 0) {
      end_input();
    } else {
      p.to = -1;
      p.pending.clear();
    }
  };

  char buf[65536];
  while (out.open || err.open) {
    Pipe* pipes[3] = {&in, &out, &err};
    pollfd pfds[5];
    for (int i = 0; i < 3; ++i) {
      Pipe& p = *pipes[i];
      const bool writing = p.open && !p.pending.empty();
      pfds[i] = {p.open ? (writing ? p.to : p.from) : -1,
                 static_cast<short>(writing ? POLLOUT : POLLIN), 0};
    }
    pfds[3] = {sigfd.get(), POLLIN, 0};
    pfds[4] = {hooks.extra_fd, POLLIN, 0};
    if (::poll(pfds, 5, -1) < 0) {
      if (errno == EINTR) continue;
      return ErrnoErr("poll");
    }
    for (int i = 0; i < 3; ++i) {
      Pipe& p = *pipes[i];
      if (!p.open || !pfds[i].revents) continue;
      if (!p.pending.empty()) {
        if (!Flush(p)) stop_writing(i, p);
        continue;
      }
      ssize_t n = ::read(p.from, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        if (i == 0) {
          end_input();
        } else {
          p.open = false;
        }
        continue;
      }
      if (p.to < 0) continue;  // output nobody reads any more: drained and dropped
      p.pending.assign(buf, static_cast<size_t>(n));
      if (!Flush(p)) stop_writing(i, p);
    }
    if (pfds[3].revents) {
      signalfd_siginfo info{};
      while (::read(sigfd.get(), &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGWINCH) {
          if (hooks.on_resize) hooks.on_resize();
        } else if (hooks.on_signal) {
          hooks.on_signal(static_cast<int>(info.ssi_signo));
        }
      }
    }
    if (hooks.extra_fd >= 0 && pfds[4].revents && hooks.on_extra && !hooks.on_extra()) break;
  }
  return {};
}

}  // namespace uvm::agent
