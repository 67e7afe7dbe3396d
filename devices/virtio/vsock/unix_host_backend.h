// uvm's vsock host side: unix sockets (Firecracker's convention).
// - The device listens on `uds`. A host client connects and writes "CONNECT <port>\n"; once the
//   guest accepted, the client reads "OK <hostport>\n" and the socket is a byte stream to guest
//   port <port>. A client that sends anything else, or nothing, is closed.
// - A guest connecting to host port P reaches whatever listens on the unix socket `<uds>_<P>`.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "devices/virtio/vsock/host_backend.h"

namespace uvm::devices::virtio::vsock {

class UnixHostBackend final : public VsockHostBackend {
 public:
  // The request line's longest form, newline included.
  static constexpr size_t kMaxRequestLine = 64;

  // Listens on `uds` (a stale socket file there is replaced).
  static Result<std::unique_ptr<UnixHostBackend>> Listen(std::string uds);
  // Stops listening, closes the clients that have not sent their request, removes the socket.
  ~UnixHostBackend() override;

  Result<void> Start(EventLoop& loop, Callbacks callbacks) override;
  Result<UniqueFd> ConnectToHost(uint32_t port) override;
  std::string AcceptedPrefix(uint32_t host_port) const override;

  const std::string& uds() const { return uds_; }

 private:
  UnixHostBackend(std::string uds, UniqueFd listener)
      : uds_(std::move(uds)), listener_(std::move(listener)) {}
  void OnListener();
  void OnPending(int fd, uint32_t events);
  void ClosePending(int fd);

  const std::string uds_;
  UniqueFd listener_;
  EventLoop* loop_ = nullptr;
  Callbacks callbacks_;
  std::map<int, UniqueFd> pending_;  // host clients that have not sent their request yet
};

// "CONNECT <port>" (without the newline; a trailing CR is allowed): the port, or nullopt.
std::optional<uint32_t> ParseConnectLine(std::string_view line);

}  // namespace uvm::devices::virtio::vsock
