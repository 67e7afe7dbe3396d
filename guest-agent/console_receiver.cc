#include "guest-agent/console_receiver.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "base/unix_socket.h"

namespace uvm::agent {
namespace {

// One descriptor from `sock` (whatever bytes come with it, crun sends the terminal's name); a
// message with several keeps the first and closes the rest.
Result<UniqueFd> ReceiveOneFd(int sock) {
  char data[256];
  iovec iov{data, sizeof data};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoErr("console socket: recvmsg");
  UniqueFd first;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (!first.valid()) {
        first.Reset(fd);
      } else {
        UniqueFd extra(fd);
      }
    }
  }
  if (!first.valid()) return Err("console socket: no terminal came with the message");
  return first;
}

}  // namespace

Result<ConsoleReceiver> ConsoleReceiver::Listen(const std::string& path) {
  ConsoleReceiver r;
  UVM_TRY(r.listener_,
          Context(ListenUnix(path, {.backlog = 1, .nonblocking = true}), "the console socket"));
  return r;
}

Result<UniqueFd> ConsoleReceiver::Receive(std::chrono::milliseconds timeout,
                                          const std::function<bool()>& gave_up) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (client.valid()) {
      // A client that connects and sends nothing holds the agent no longer than the deadline.
      const auto left = std::max<long>(1, std::chrono::duration_cast<std::chrono::milliseconds>(
                                              deadline - std::chrono::steady_clock::now())
                                              .count());
      timeval tv{left / 1000, (left % 1000) * 1000};
      ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      return ReceiveOneFd(client.get());
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return ErrnoErr("console socket: accept");
    }
    if (gave_up()) return Err("crun ended before it sent the terminal");
    if (std::chrono::steady_clock::now() >= deadline) {
      return Err("crun sent no terminal within " + std::to_string(timeout.count()) + " ms");
    }
    pollfd p{listener_.get(), POLLIN, 0};
    ::poll(&p, 1, 20);
  }
}

}  // namespace uvm::agent
