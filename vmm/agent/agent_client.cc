#include "vmm/agent/agent_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace uvm::agent {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRetryInterval = std::chrono::milliseconds(20);

// The agent's answer to a request, skipping nothing: an ErrorReply becomes the error.
template <class... Accepted>
Result<Message> Expect(int fd, Deadline deadline, const char* what) {
  auto m = ReadMessage(fd, deadline);
  if (!m) return Err(std::string("agent: ") + what + ": " + m.error().message);
  if (auto* e = std::get_if<ErrorReply>(&*m)) {
    return Err(std::string("agent: ") + what + ": " + e->message);
  }
  if (!(std::holds_alternative<Accepted>(*m) || ...)) {
    return Err(std::string("agent: ") + what + ": unexpected reply");
  }
  return m;
}

}  // namespace

Result<UniqueFd> AgentClient::OpenControl(Deadline deadline) {
  UVM_TRY(UniqueFd fd, Dial(address_, deadline));
  UVM_CHECK(WriteMessage(fd.get(), Hello{}));
  UVM_TRY(Message reply, Expect<Hello>(fd.get(), deadline, "hello"));
  (void)reply;
  return fd;
}

Result<AgentClient> AgentClient::Connect(const AgentAddress& address,
                                         std::chrono::milliseconds timeout) {
  AgentClient client(address);
  const Deadline deadline = Clock::now() + timeout;
  Error last{"no attempt made"};
  while (Clock::now() < deadline) {
    auto fd = client.OpenControl(deadline);
    if (fd) {
      client.spare_control_ = std::move(*fd);
      return client;
    }
    last = fd.error();
    // The agent answered and refused (a version mismatch): retrying cannot help.
    if (last.message.find("not supported") != std::string::npos) return tl::unexpected(last);
    std::this_thread::sleep_for(kRetryInterval);
  }
  return Err("the guest agent did not answer within " + std::to_string(timeout.count()) +
             " ms (last attempt: " + last.message + ")");
}

Result<RemoteProcess> AgentClient::Exec(const ExecRequest& request,
                                        std::chrono::milliseconds timeout) {
  const Deadline deadline = Clock::now() + timeout;
  RemoteProcess p;
  if (spare_control_.valid()) {
    p.control_ = std::move(spare_control_);
  } else {
    UVM_TRY(p.control_, OpenControl(deadline));
  }
  UVM_CHECK(WriteMessage(p.control_.get(), request));
  UVM_TRY(Message accepted, Expect<ExecAccepted>(p.control_.get(), deadline, "exec"));
  const uint64_t id = std::get<ExecAccepted>(accepted).exec_id;
  for (StreamKind kind : {StreamKind::kStdin, StreamKind::kStdout, StreamKind::kStderr}) {
    UVM_TRY(UniqueFd fd, Dial(address_, deadline));
    UVM_CHECK(WriteMessage(fd.get(), Hello{kProtocolVersion, Role::kStream, id, kind}));
    p.stdio_[static_cast<int>(kind)] = std::move(fd);
  }
  auto expect_started = Expect<Started, Exit>;  // (a comma inside UVM_TRY splits its arguments)
  UVM_TRY(Message started, expect_started(p.control_.get(), deadline, "exec"));
  if (auto* exit = std::get_if<Exit>(&started)) {
    p.exit_ = *exit;
    for (auto& s : p.stdio_) s.Reset();
  } else {
    p.pid_ = std::get<Started>(started).pid;
  }
  return p;
}

Result<void> RemoteProcess::CloseStdin() {
  if (!stdio_[0].valid()) return {};
  int r = shutdown(stdio_[0].get(), SHUT_WR);
  stdio_[0].Reset();
  if (r < 0 && errno != ENOTCONN) return ErrnoErr("closing the process's stdin");
  return {};
}

Result<void> RemoteProcess::Signal(int sig) {
  if (exit_) return {};
  return WriteMessage(control_.get(), SignalRequest{sig});
}

Result<void> RemoteProcess::Resize(uint16_t rows, uint16_t cols) {
  if (exit_) return {};
  return WriteMessage(control_.get(), ResizeRequest{rows, cols});
}

Result<Exit> RemoteProcess::WaitExit(std::optional<std::chrono::milliseconds> timeout) {
  if (exit_) return *exit_;
  std::optional<Deadline> deadline;
  if (timeout) deadline = Clock::now() + *timeout;
  for (;;) {
    auto m = deadline ? ReadMessage(control_.get(), *deadline) : ReadMessage(control_.get());
    if (!m) return Err("agent: waiting for the exit status: " + m.error().message);
    // An ErrorReply here answers an earlier Signal/Resize; it does not end the process.
    if (auto* exit = std::get_if<Exit>(&*m)) {
      exit_ = *exit;
      return *exit_;
    }
  }
}

Result<void> RelayStdio(RemoteProcess& p, int in, int out, int err) {
  int sock_in = p.stdin_fd();
  if (in < 0 || sock_in < 0) {
    UVM_CHECK(p.CloseStdin());
    sock_in = -1;
    in = -1;
  } else {
    fcntl(sock_in, F_SETFL, fcntl(sock_in, F_GETFL) | O_NONBLOCK);
  }
  std::string pending;  // read from `in`, not yet taken by the stdin socket
  bool in_eof = false;
  char buf[64 * 1024];
  auto copy_out = [&](int sock, int to, void (RemoteProcess::*close)()) -> Result<void> {
    ssize_t n = read(sock, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return {};
    if (n <= 0) {
      (p.*close)();  // closing is our word to the agent that everything was read
      return {};
    }
    return WriteAll(to, std::string_view(buf, static_cast<size_t>(n)));
  };
  while (p.stdout_fd() >= 0 || p.stderr_fd() >= 0) {
    pollfd fds[4];
    int n = 0, i_in = -1, i_sock = -1, i_out = -1, i_err = -1;
    if (in >= 0 && !in_eof && pending.empty()) fds[i_in = n++] = {in, POLLIN, 0};
    if (sock_in >= 0 && !pending.empty()) fds[i_sock = n++] = {sock_in, POLLOUT, 0};
    if (p.stdout_fd() >= 0) fds[i_out = n++] = {p.stdout_fd(), POLLIN, 0};
    if (p.stderr_fd() >= 0) fds[i_err = n++] = {p.stderr_fd(), POLLIN, 0};
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      return ErrnoErr("poll");
    }
    if (i_in >= 0 && fds[i_in].revents) {
      ssize_t k = read(in, buf, sizeof buf);
      if (k > 0) {
        pending.assign(buf, static_cast<size_t>(k));
      } else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
        in_eof = true;
      }
    }
    if (i_sock >= 0 && fds[i_sock].revents) {
      ssize_t k = send(sock_in, pending.data(), pending.size(), MSG_NOSIGNAL);
      if (k > 0) {
        pending.erase(0, static_cast<size_t>(k));
      } else if (k < 0 && errno != EINTR && errno != EAGAIN) {
        pending.clear();  // the process is gone or closed its stdin: drop the rest
        in_eof = true;
      }
    }
    if (in_eof && pending.empty() && sock_in >= 0) {
      UVM_CHECK(p.CloseStdin());
      sock_in = -1;
    }
    if (i_out >= 0 && fds[i_out].revents)
      UVM_CHECK(copy_out(p.stdout_fd(), out, &RemoteProcess::CloseStdout));
    if (i_err >= 0 && fds[i_err].revents)
      UVM_CHECK(copy_out(p.stderr_fd(), err, &RemoteProcess::CloseStderr));
  }
  return {};
}

}  // namespace uvm::agent
