// The address of a unix-domain socket, shared by every place that binds or connects one (the
// vsock device's host side, the agent dialer, the control socket, the VM pool), and a listener.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

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

// A listening stream socket at `path`, replacing a stale socket file left there.
inline Result<UniqueFd> ListenUnix(const std::string& path, int backlog = 64) {
  UVM_TRY(sockaddr_un addr, UnixSocketAddress(path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoErr("unix socket");
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
    return ErrnoErr("binding " + path);
  }
  if (::listen(fd.get(), backlog) < 0) return ErrnoErr("listen on " + path);
  return fd;
}

}  // namespace uvm
