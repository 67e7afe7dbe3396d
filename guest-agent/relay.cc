#include "guest-agent/relay.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace uvm::agent {
namespace {

constexpr size_t kChunk = 64 * 1024;

// Waits until `fd` is ready for `events` or `cancel` is readable; false when cancelled.
bool WaitFor(int fd, short events, int cancel) {
  for (;;) {
    pollfd p[2] = {{fd, events, 0}, {cancel, POLLIN, 0}};
    int n = poll(p, cancel >= 0 ? 2 : 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (cancel >= 0 && (p[1].revents & POLLIN)) return false;
    if (p[0].revents) return true;
  }
}

// Writes all of buf to a possibly non-blocking fd; false on error or cancel.
bool WriteAll(int fd, const char* buf, size_t n, int cancel) {
  while (n > 0) {
    ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);
    if (k < 0 && errno == ENOTSOCK) k = write(fd, buf, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN && WaitFor(fd, POLLOUT, cancel)) continue;
      return false;
    }
    buf += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

}  // namespace

void RelayOutput(int source, int sock) {
  static thread_local char buf[kChunk];
  bool host_gone = false;
  if (source >= 0) {
    for (;;) {
      ssize_t n = read(source, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        WaitFor(source, POLLIN, -1);
        continue;
      }
      if (n <= 0) break;  // EOF, or EIO from a pty master whose slave side is all closed
      // A host that closed its end early is done with this stream: keep draining the process's
      // output so it never blocks on a full pipe.
      if (!host_gone && !WriteAll(sock, buf, static_cast<size_t>(n), -1)) host_gone = true;
    }
  }
  if (host_gone) return;
  shutdown(sock, SHUT_WR);
  for (;;) {
    ssize_t n = read(sock, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
  }
}

void RelayInput(int sock, int sink, int cancel, bool tty) {
  static thread_local char buf[kChunk];
  for (;;) {
    if (!WaitFor(sock, POLLIN, cancel)) return;
    ssize_t n = read(sock, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    if (!WriteAll(sink, buf, static_cast<size_t>(n), cancel)) return;
  }
  if (tty) {
    const char eof = 0x04;
    WriteAll(sink, &eof, 1, cancel);
  }
}

}  // namespace uvm::agent
