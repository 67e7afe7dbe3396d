#include "runtime/agent/agent_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "base/log.h"
#include "runtime/agent/stdio_relay.h"

namespace uvm::agent {
namespace {

using Clock = std::chrono::steady_clock;
// Retries start short (a clone answers within milliseconds of its socket appearing) and back off
// to 20 ms (a booting guest is not to be flooded with connection requests it must refuse).
constexpr auto kFirstRetry = std::chrono::milliseconds(2);
constexpr auto kMaxRetry = std::chrono::milliseconds(20);

// The agent's answer to a request, skipping nothing: an ErrorReply becomes the error.
template <class... Accepted>
Result<Message> Expect(int fd, Deadline deadline, const char* what) {
  auto m = ReadMessage(fd, deadline);
  if (!m) return Err(m.error().code, std::string("agent: ") + what + ": " + m.error().message);
  if (auto* e = std::get_if<ErrorReply>(&*m)) {
    const ErrorCode code =
        e->kind == ErrorKind::kUnsupported ? ErrorCode::kUnsupported : ErrorCode::kGuestFailed;
    return Err(code, std::string("agent: ") + what + ": " + e->message);
  }
  if (!(std::holds_alternative<Accepted>(*m) || ...)) {
    return Err(std::string("agent: ") + what + ": unexpected reply");
  }
  return m;
}

}  // namespace

Result<UniqueFd> AgentClient::OpenControl(Deadline deadline) {
  // The Hello rides behind the CONNECT line: one wait for both answers.
  UVM_TRY(UniqueFd fd, DialStart(address_));
  auto sent = WriteMessage(fd.get(), Hello{});
  // A refusal (the VMM closed the socket) explains a failed write better than EPIPE does.
  UVM_CHECK(DialFinish(fd.get(), address_, deadline));
  UVM_CHECK(sent);
  UVM_TRY(Message reply, Expect<Hello>(fd.get(), deadline, "hello"));
  (void)reply;
  return fd;
}

Result<UniqueFd> AgentClient::TakeControl(Deadline deadline) {
  if (spare_control_.valid()) return std::move(spare_control_);
  return OpenControl(deadline);
}

Result<AgentClient> AgentClient::Connect(const AgentAddress& address,
                                         std::chrono::milliseconds timeout) {
  AgentClient client(address);
  const Deadline deadline = Clock::now() + timeout;
  Error last{"no attempt made"};
  auto retry = kFirstRetry;
  while (Clock::now() < deadline) {
    auto fd = client.OpenControl(deadline);
    if (fd) {
      client.spare_control_ = std::move(*fd);
      return client;
    }
    if (fd.error().message != last.message) {
      Log(LogLevel::kDebug, "agent not answering yet: " + fd.error().message);
    }
    last = fd.error();
    // The agent answered and refused (a version mismatch): retrying cannot help.
    if (last.code == ErrorCode::kUnsupported) return tl::unexpected(last);
    std::this_thread::sleep_for(retry);
    retry = std::min(retry * 2, kMaxRetry);
  }
  return Err(ErrorCode::kUnavailable, "the guest agent did not answer within " +
                                          std::to_string(timeout.count()) +
                                          " ms (last attempt: " + last.message + ")");
}

Result<RemoteProcess> AgentClient::Exec(const ExecRequest& request,
                                        std::chrono::milliseconds timeout) {
  const Deadline deadline = Clock::now() + timeout;
  RemoteProcess p;
  UVM_TRY(p.control_, TakeControl(deadline));
  UVM_CHECK(WriteMessage(p.control_.get(), request));
  UVM_TRY(Message accepted, Expect<ExecAccepted>(p.control_.get(), deadline, "exec"));
  const uint64_t id = std::get<ExecAccepted>(accepted).exec_id;
  Result<void> hellos[3];
  // The three stream connections are all on their way, each with its Hello, before any answer
  // is awaited: one round trip through the guest, not three.
  for (StreamKind kind : {StreamKind::kStdin, StreamKind::kStdout, StreamKind::kStderr}) {
    UVM_TRY(UniqueFd fd, DialStart(address_));
    hellos[static_cast<int>(kind)] =
        WriteMessage(fd.get(), Hello{kProtocolVersion, Role::kStream, id, kind});
    p.stdio_[static_cast<int>(kind)] = std::move(fd);
  }
  for (int i = 0; i < 3; ++i) {
    UVM_CHECK(DialFinish(p.stdio_[i].get(), address_, deadline));
    UVM_CHECK(hellos[i]);
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

Result<ImagePrepared> AgentClient::PrepareImage(const Rootfs& rootfs, uint64_t warm_bytes,
                                                std::chrono::milliseconds timeout) {
  const Deadline deadline = Clock::now() + timeout;
  UVM_TRY(UniqueFd control, TakeControl(deadline));
  UVM_CHECK(WriteMessage(control.get(), agent::PrepareImage{rootfs, warm_bytes}));
  UVM_TRY(Message reply, Expect<ImagePrepared>(control.get(), deadline, "preparing the image"));
  return std::get<ImagePrepared>(reply);
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
  RelayFds fds{in, out, err, p.stdin_fd(), p.stdout_fd(), p.stderr_fd()};
  UVM_CHECK(RelayStdio(fds, {}));
  // Closing the streams is our word to the agent that everything was read.
  p.CloseStdout();
  p.CloseStderr();
  return {};
}

}  // namespace uvm::agent
