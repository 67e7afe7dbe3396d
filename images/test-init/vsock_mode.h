// `uvmtest=vsock` for the test init: exercises virtio-vsock from inside the guest.
//   1. listens on vsock port 5000 and echoes every connection back (one thread each, so many run
//      at once; a peer that vanishes mid-stream only ends its own thread);
//   2. connects to the host (CID 2) port 6000, sends 1 MiB of a pattern, half-closes, reads the
//      echo and prints "UVMTEST vsock guest-to-host: ok N" or the failure;
//   3. prints "UVMTEST vsock ready" and serves until a connection to port 5001 asks it to stop;
//      it powers off only once the host has closed that connection (see Run).
// Included by test_init.cc only (the initramfs is built from one translation unit).
#pragma once

#include <linux/vm_sockets.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace vsock_mode {

constexpr unsigned kEchoPort = 5000;
constexpr unsigned kStopPort = 5001;
constexpr unsigned kHostEchoPort = 6000;

inline int Listen(unsigned port) {
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = port;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
      listen(fd, 128) < 0) {
    std::printf("UVMTEST vsock: listen %u: %s\n", port, std::strerror(errno));
    return -1;
  }
  return fd;
}

inline void Echo(int fd) {
  thread_local std::string data(64 * 1024, '\0');
  for (;;) {
    ssize_t n = read(fd, data.data(), data.size());
    if (n <= 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(fd, data.data() + done, static_cast<size_t>(n - done));
      if (w <= 0) {
        close(fd);
        return;
      }
      done += w;
    }
  }
  shutdown(fd, SHUT_WR);
  close(fd);
}

// The pattern byte at offset i of the guest-to-host stream.
inline char PatternByte(size_t i) { return static_cast<char>((i * 31 + i / 4096) & 0xff); }

// A stream socket of the address's family connected to `addr`, or -1 with errno set.
template <typename SockAddr>
int ConnectStream(const SockAddr& addr) {
  int fd = socket(reinterpret_cast<const sockaddr&>(addr).sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
    const int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

// A stream connected to the host (CID 2) port `port`, or -1 with errno set.
inline int ConnectHost(unsigned port) {
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_HOST;
  addr.svm_port = port;
  return ConnectStream(addr);
}

inline std::string GuestToHost() {
  int fd = ConnectHost(kHostEchoPort);
  if (fd < 0) return std::string("connect: ") + std::strerror(errno);
  constexpr size_t kBytes = 1 << 20;
  std::string sent(kBytes, '\0');
  for (size_t i = 0; i < kBytes; ++i) sent[i] = PatternByte(i);
  // Write and read at once: the echo comes back while we are still sending.
  std::thread writer([&] {
    for (size_t done = 0; done < kBytes;) {
      ssize_t w = write(fd, sent.data() + done, kBytes - done);
      if (w <= 0) break;
      done += static_cast<size_t>(w);
    }
    shutdown(fd, SHUT_WR);
  });
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  writer.join();
  close(fd);
  if (got != sent) return "mismatch: got " + std::to_string(got.size()) + " bytes";
  return "ok " + std::to_string(got.size());
}

inline int Run() {
  signal(SIGPIPE, SIG_IGN);
  int echo = Listen(kEchoPort);
  int stop = Listen(kStopPort);
  if (echo < 0 || stop < 0) return 7;
  std::thread([echo] {
    for (;;) {
      int c = accept4(echo, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) std::thread(Echo, c).detach();
    }
  }).detach();
  std::printf("UVMTEST vsock guest-to-host: %s\n", GuestToHost().c_str());
  std::printf("UVMTEST vsock ready\n");
  std::fflush(stdout);
  int c = accept4(stop, nullptr, nullptr, SOCK_CLOEXEC);
  std::printf("UVMTEST vsock stop: %s\n", c >= 0 ? "ok" : std::strerror(errno));
  std::fflush(stdout);
  // accept() returns as soon as the kernel has queued its RESPONSE, but Linux 6.1's virtio
  // transport puts queued packets into the TX virtqueue later, from a workqueue (possibly on the
  // other vCPU). Powering off now could stop the guest before that RESPONSE ever reaches the ring,
  // and the host would see its CONNECT refused. The host closes once it has its "OK": wait for
  // that.
  if (c >= 0) {
    char byte;
    while (read(c, &byte, 1) > 0) {
    }
  }
  return 0;
}

}  // namespace vsock_mode
