// Reaching the guest agent from the host. In a VM the path is the VMM's vsock unix socket
// (ARCHITECTURE.md, "virtio"): connect, send "CONNECT <port>\n", read "OK <hostport>\n", then the
// socket is a byte pipe to the guest's vsock port. In tests the agent listens on a unix socket
// itself
// (`uvm-agent --listen-unix PATH`) and there is no handshake.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "guest-agent/protocol/frame.h"

namespace uvm::agent {

struct AgentAddress {
  std::string path;
  bool direct = false;  // true: `path` is the agent's own socket (tests), no CONNECT handshake
  uint32_t port = kAgentPort;

  static AgentAddress Vsock(std::string uds, uint32_t port = kAgentPort) {
    return {std::move(uds), false, port};
  }
  static AgentAddress Unix(std::string path) { return {std::move(path), true, kAgentPort}; }
};

// One attempt to open a connection to the agent (no retries).
Result<UniqueFd> Dial(const AgentAddress& address, Deadline deadline);

// Dial in two halves, so several connections (and their first message) can be on their way
// before any answer is awaited: one round trip through the guest instead of one per connection.
// DialStart connects and sends the CONNECT line; bytes written after it wait in the socket until
// the guest has accepted (the VMM reads the line only, and the rest once connected) and are
// dropped if it refuses. DialFinish reads the VMM's OK.
Result<UniqueFd> DialStart(const AgentAddress& address);
Result<void> DialFinish(int fd, const AgentAddress& address, Deadline deadline);

}  // namespace uvm::agent
