// Local sockets: the address of a unix-domain socket, shared by every place that binds or connects
// one (the vsock device's host side, the agent dialer, the control socket, the VM pool), and the
// one listener for unix and for vsock sockets.
#pragma once

#include <linux/vm_sockets.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace uvm {

// Sends descriptor `fd` over the connected unix socket `sock` (SCM_RIGHTS) with the bytes `data`,
// which must not be empty (on a stream socket a message without bytes carries no descriptor):
// how runc and crun hand a terminal's master to a --console-socket.
inline Result<void> SendFd(int sock, int fd, std::string_view data) {
  if (data.empty()) return Err("SendFd: a descriptor needs at least one byte with it");
  iovec iov{const_cast<char*>(data.data()), data.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoErr("sendmsg");
  return {};
}

// Refuses an empty path and one too long for sun_path: cut short, it would name another socket.
inline Result<sockaddr_un> UnixSocketAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return Err(ErrorCode::kInvalidArgument, "unix socket path " + path + ": must be 1 to " +
                                                std::to_string(sizeof addr.sun_path - 1) +
                                                " bytes");
  }
  path.copy(addr.sun_path, path.size());
  return addr;
}

// A stream socket connected to the listener at `path`. A unix socket connects at once or fails:
// ENOENT or ECONNREFUSED (ErrorCode::kNotFound) when nothing listens there, EAGAIN when its
// backlog is full.
inline Result<UniqueFd> ConnectUnix(const std::string& path, bool nonblocking = false) {
  UVM_TRY(sockaddr_un addr, UnixSocketAddress(path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0));
  if (!fd.valid()) return ErrnoErr("unix socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
    return ErrnoErr("connecting to " + path);
  }
  return fd;
}

struct ListenOptions {
  int backlog = 64;
  bool nonblocking = false;  // for an event loop: accept() never blocks
  // Non-zero: the socket file's permissions (0600: root only), set as it is bound.
  mode_t mode = 0;
  // A socket someone accepts on is in use: fail (ErrorCode::kExists) instead of replacing it.
  bool refuse_live = false;
};

// A listening stream socket at `path`. A socket file left there (a dead listener's) is replaced;
// any other kind of file is not.
inline Result<UniqueFd> ListenUnix(const std::string& path, const ListenOptions& options = {}) {
  UVM_TRY(sockaddr_un addr, UnixSocketAddress(path));
  const int type = SOCK_STREAM | SOCK_CLOEXEC | (options.nonblocking ? SOCK_NONBLOCK : 0);
  UniqueFd fd(::socket(AF_UNIX, type, 0));
  if (!fd.valid()) return ErrnoErr("unix socket");
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    if (options.refuse_live) {
      UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (probe.valid() &&
          ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
        return Err(ErrorCode::kExists, path + " is in use (something accepts on it)");
      }
    }
    ::unlink(path.c_str());
  }
  const mode_t old_umask = options.mode ? ::umask(0777 & ~options.mode) : 0;
  const int bound = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  if (options.mode) ::umask(old_umask);
  if (bound < 0) return ErrnoErr("binding " + path, bind_errno);
  if (::listen(fd.get(), options.backlog) < 0) return ErrnoErr("listen on " + path);
  return fd;
}

// A listening vsock stream socket on `port` of any CID (the guest's own, or the host's for a
// guest of QEMU's vhost-vsock).
inline Result<UniqueFd> ListenVsock(uint32_t port, int backlog = 64) {
  UniqueFd fd(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoErr("vsock socket");
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = port;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    return ErrnoErr("binding vsock port " + std::to_string(port));
  }
  if (::listen(fd.get(), backlog) < 0)
    return ErrnoErr("listen on vsock port " + std::to_string(port));
  return fd;
}

}  // namespace uvm
