// The host side of the vsock device, apart from the device: where a guest's connection to host
// port P goes, and where connections from the host to a guest port come from. The device speaks
// virtio-vsock to the guest and moves bytes between each connection and a stream socket; the
// backend finds and names those streams (uvm's is unix sockets: unix_host_backend.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/event_loop.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace uvm::devices::virtio::vsock {

class VsockHostBackend {
 public:
  struct Callbacks {
    // A host stream asks for guest port `guest_port` (its request is read, nothing more).
    std::function<void(UniqueFd stream, uint32_t guest_port)> on_connect;
    // Whether another host connection may be taken while `pending` wait for their request: the
    // device caps connections in all (each holds host fds).
    std::function<bool(size_t pending)> may_accept;
  };

  virtual ~VsockHostBackend() = default;

  // Starts taking host connections on `loop` (its thread runs the callbacks). Called once.
  virtual Result<void> Start(EventLoop& loop, Callbacks callbacks) = 0;
  // A non-blocking stream to what serves host port `port` for the guest; an error when nothing
  // does (the guest then gets RST).
  virtual Result<UniqueFd> ConnectToHost(uint32_t port) = 0;
  // What a host stream reads before any payload once the guest accepted its connection, which got
  // host port `host_port`.
  virtual std::string AcceptedPrefix(uint32_t host_port) const = 0;
};

}  // namespace uvm::devices::virtio::vsock
