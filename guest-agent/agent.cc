#include "guest-agent/agent.h"

#include <linux/vm_sockets.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <thread>

#include "base/unix_socket.h"

namespace uvm::agent {
namespace {

// A connection must say who it is promptly; a silent one is dropped.
constexpr auto kHelloTimeout = std::chrono::seconds(10);

template <class T>
const T* As(const Message& m) {
  return std::get_if<T>(&m);
}

}  // namespace

Result<void> Agent::Serve(int listen_fd) {
  for (;;) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE ||
          errno == ENOBUFS || errno == ENOMEM) {
        continue;
      }
      return ErrnoErr("accept");
    }
    std::thread([this, fd] { HandleConnection(UniqueFd(fd)); }).detach();
  }
}

void Agent::HandleConnection(UniqueFd fd) {
  auto first = ReadMessage(fd.get(), std::chrono::steady_clock::now() + kHelloTimeout);
  if (!first) return;
  const Hello* hello = As<Hello>(*first);
  if (!hello) {
    WriteMessage(fd.get(), ErrorReply{"the first message must be hello"});
    return;
  }
  if (hello->version != kProtocolVersion) {
    WriteMessage(fd.get(), ErrorReply{"agent protocol version " + std::to_string(hello->version) +
                                          " is not supported; this agent speaks version " +
                                          std::to_string(kProtocolVersion),
                                      ErrorKind::kUnsupported});
    return;
  }
  if (hello->role == Role::kStream) {
    // Unknown exec or duplicate stream: closing the connection is the answer.
    streams_.Attach(hello->exec_id, hello->stream, std::move(fd));
    return;
  }
  auto control = std::make_shared<ControlChannel>(std::move(fd));
  if (!control->Send(Hello{})) return;
  ServeControl(std::move(control));
}

void Agent::ServeControl(std::shared_ptr<ControlChannel> control) {
  std::shared_ptr<ExecSession> session;
  bool exec_seen = false;
  for (;;) {
    auto message = ReadMessage(control->fd());
    if (!message) {
      // End of the connection, or a bad frame (after which the stream cannot be trusted).
      if (message.error().message != "connection closed") {
        control->Send(ErrorReply{message.error().message});
      }
      if (session) session->Abandon();
      return;
    }
    if (const auto* exec = As<ExecRequest>(*message)) {
      if (exec_seen) {
        control->Send(ErrorReply{"one exec per control connection"});
        continue;
      }
      exec_seen = true;
      uint64_t id = next_exec_id_++;
      ctx_.streams.Expect(id);
      if (!control->Send(ExecAccepted{id})) return;
      session = ExecSession::Start(ctx_, control, id, *exec);
    } else if (const auto* prepare = As<PrepareImage>(*message)) {
      auto prepared = ctx_.images.Prepare(prepare->rootfs, prepare->warm_bytes);
      if (prepared) {
        control->Send(*prepared);
      } else {
        control->Send(ErrorReply{"preparing the image: " + prepared.error().message});
      }
    } else if (const auto* sig = As<SignalRequest>(*message)) {
      if (session) session->Signal(sig->signal);
    } else if (const auto* resize = As<ResizeRequest>(*message)) {
      if (!session) continue;
      auto r = session->Resize(resize->rows, resize->cols);
      if (!r) control->Send(ErrorReply{r.error().message});
    } else {
      control->Send(ErrorReply{"unexpected message on a control connection"});
    }
  }
}

}  // namespace uvm::agent
