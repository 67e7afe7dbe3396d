// The address of a unix-domain socket, shared by every place that binds or connects one (the
// vsock device's host side, the agent dialer, the control socket, the VM pool).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <string>

#include "base/result.h"

namespace uvm {

// Refuses an empty path and one too long for sun_path: cut short, it would name another socket.
inline Result<sockaddr_un> UnixSocketAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return Err("unix socket path " + path + ": must be 1 to " +
               std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  path.copy(addr.sun_path, path.size());
  return addr;
}

}  // namespace uvm
