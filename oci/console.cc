#include "oci/console.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "base/quoted.h"
#include "base/unix_socket.h"
#include "oci/vm_layout.h"

namespace uvm::oci {
namespace {

// A pty pair for a container with a terminal (both ends close-on-exec).
struct Pty {
  UniqueFd master, slave;
};
Result<Pty> OpenPty() {
  Pty pty;
  pty.master.Reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!pty.master.valid()) return ErrnoErr("open /dev/ptmx");
  if (::grantpt(pty.master.get()) < 0 || ::unlockpt(pty.master.get()) < 0) {
    return ErrnoErr("unlockpt");
  }
  char name[64];
  if (::ptsname_r(pty.master.get(), name, sizeof name) != 0) return ErrnoErr("ptsname");
  pty.slave.Reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!pty.slave.valid()) return ErrnoErr(std::string("open ") + name);
  return pty;
}

// Hands `fd` to the engine's console socket as runc does: one message, the descriptor in
// SCM_RIGHTS, the terminal's name as its bytes. The socket is named through its directory's
// descriptor (sun_path holds 108 bytes).
Result<void> SendToConsoleSocket(const std::string& path, int fd) {
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  UVM_TRY(SocketAddress address, Context(SocketIn(dir, name), "console socket " + Quoted(path)));
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.valid() ||
      ::connect(sock.get(), reinterpret_cast<sockaddr*>(&address.addr), sizeof address.addr) < 0) {
    return ErrnoErr("console socket " + Quoted(path));
  }
  return Context(SendFd(sock.get(), fd, "/dev/ptmx"), "console socket " + Quoted(path));
}

}  // namespace

std::pair<uint16_t, uint16_t> WindowSize(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
    return {ws.ws_row, ws.ws_col};
  }
  return {24, 80};
}

// With a terminal: a pty whose master went to the engine's console socket; its slave, for the
// process's side. Without: no descriptor. runc's rules on --console-socket.
Result<UniqueFd> TerminalForEngine(bool terminal, const std::string& console_socket) {
  if (terminal && console_socket.empty()) {
    return Err("cannot allocate tty if runc will detach without setting console socket");
  }
  if (!terminal && !console_socket.empty()) {
    return Err("cannot use console socket if runc will not detach or allocate tty");
  }
  if (!terminal) return UniqueFd();
  UVM_TRY(Pty pty, OpenPty());
  UVM_CHECK(SendToConsoleSocket(console_socket, pty.master.get()));
  return std::move(pty.slave);
}

}  // namespace uvm::oci
