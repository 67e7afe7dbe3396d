#include "runtime/agent/dial.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

#include "base/unix_socket.h"

namespace uvm::agent {

Result<UniqueFd> DialStart(const AgentAddress& address) {
  UVM_TRY(UniqueFd fd, ConnectUnix(address.path));
  if (!address.direct) {
    UVM_CHECK(WriteAll(fd.get(), "CONNECT " + std::to_string(address.port) + "\n"));
  }
  return fd;
}

Result<void> DialFinish(int fd, const AgentAddress& address, Deadline deadline) {
  if (address.direct) return {};
  // Byte by byte: whatever follows the newline already belongs to the guest's stream.
  std::string line;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Err("timed out in the vsock CONNECT handshake");
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()) + 1);
    if (r < 0 && errno != EINTR) return ErrnoErr("poll");
    if (r <= 0) continue;
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoErr("vsock CONNECT handshake");
    // The VMM closes the socket when the guest refuses (nothing listens on the port yet).
    if (n == 0) return Err("the guest refused vsock port " + std::to_string(address.port));
    if (c == '\n') break;
    line.push_back(c);
    if (line.size() > 64) return Err("vsock CONNECT handshake: reply too long");
  }
  if (line.rfind("OK ", 0) != 0)
    return Err("vsock CONNECT handshake: unexpected reply '" + line + "'");
  return {};
}

Result<UniqueFd> Dial(const AgentAddress& address, Deadline deadline) {
  UVM_TRY(UniqueFd fd, DialStart(address));
  UVM_CHECK(DialFinish(fd.get(), address, deadline));
  return fd;
}

}  // namespace uvm::agent
