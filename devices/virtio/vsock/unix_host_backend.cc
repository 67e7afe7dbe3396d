#include "devices/virtio/vsock/unix_host_backend.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "base/unix_socket.h"

namespace uvm::devices::virtio::vsock {

std::optional<uint32_t> ParseConnectLine(std::string_view line) {
  constexpr std::string_view kPrefix = "CONNECT ";
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  line.remove_prefix(kPrefix.size());
  uint32_t port = 0;
  auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), port);
  if (ec != std::errc() || end != line.data() + line.size() || line.empty()) return std::nullopt;
  return port;
}

Result<std::unique_ptr<UnixHostBackend>> UnixHostBackend::Listen(std::string uds) {
  UVM_TRY(UniqueFd fd, Context(ListenUnix(uds, {.nonblocking = true}), "vsock"));
  return std::unique_ptr<UnixHostBackend>(new UnixHostBackend(std::move(uds), std::move(fd)));
}

UnixHostBackend::~UnixHostBackend() {
  if (loop_) {
    for (auto& [fd, client] : pending_) loop_->Remove(fd);
    loop_->Remove(listener_.get());
  }
  ::unlink(uds_.c_str());
}

Result<void> UnixHostBackend::Start(EventLoop& loop, Callbacks callbacks) {
  loop_ = &loop;
  callbacks_ = std::move(callbacks);
  return loop.Add(listener_.get(), EPOLLIN, [this](uint32_t) { OnListener(); });
}

Result<UniqueFd> UnixHostBackend::ConnectToHost(uint32_t port) {
  return ConnectUnix(uds_ + "_" + std::to_string(port), /*nonblocking=*/true);
}

std::string UnixHostBackend::AcceptedPrefix(uint32_t host_port) const {
  return "OK " + std::to_string(host_port) + "\n";
}

void UnixHostBackend::OnListener() {
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) return;
    if (!callbacks_.may_accept(pending_.size())) continue;  // closed
    const int raw = fd.get();
    if (!loop_->Add(raw, EPOLLIN, [this, raw](uint32_t ev) { OnPending(raw, ev); })) continue;
    pending_.emplace(raw, std::move(fd));
  }
}

void UnixHostBackend::ClosePending(int fd) {
  loop_->Remove(fd);
  pending_.erase(fd);
}

void UnixHostBackend::OnPending(int fd, uint32_t events) {
  auto it = pending_.find(fd);
  if (it == pending_.end()) return;
  // The request is read up to its newline and no further: what follows is already the stream's.
  char line[kMaxRequestLine];
  const ssize_t n = ::recv(fd, line, sizeof line, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return ClosePending(fd);
  const char* nl = static_cast<const char*>(std::memchr(line, '\n', static_cast<size_t>(n)));
  if (!nl) {
    if (static_cast<size_t>(n) == sizeof line || (events & (EPOLLHUP | EPOLLERR))) {
      ClosePending(fd);
    }
    return;
  }
  const size_t len = static_cast<size_t>(nl - line) + 1;
  if (::recv(fd, line, len, MSG_DONTWAIT) != static_cast<ssize_t>(len)) return ClosePending(fd);
  auto port = ParseConnectLine(std::string_view(line, len - 1));
  if (!port) return ClosePending(fd);
  UniqueFd client = std::move(it->second);
  ClosePending(fd);
  callbacks_.on_connect(std::move(client), *port);
}

}  // namespace uvm::devices::virtio::vsock
