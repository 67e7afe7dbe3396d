// `uvmtest=iobench` for the test init: the guest half of `uvm bench io` (bench/io.h).
//
// Parameters come from the kernel command line (Linux hands unknown key=value parameters without
// a dot to init as environment variables):
//   uvmio_mib=N        bytes of the sequential phases and the span of the random ones (MiB)
//   uvmio_secs=N       duration of each random phase (seconds)
//   uvmio_threads=N    random-I/O threads, each with one 4 KiB request in flight
//   uvmio_vsock_mib=N  bytes moved each way over vsock (MiB); 0 skips the vsock phases
//   uvmio_net_mib=N    bytes moved each way over TCP on eth0 (MiB); 0 (the default) skips them
//   uvmio_net_ip=A     eth0's IPv4 address (/24) and uvmio_net_peer=A the host's, on the tap
//   uvmio_only_net=1   run the net phases only (no block, no vsock)
//
// Phases, in order, on /dev/vda with O_DIRECT (so the guest page cache is out of the way and
// every request reaches the device): seq_write (1 MiB writes, then fsync), seq_read (1 MiB reads),
// rand_read and rand_write (4 KiB at random aligned offsets, one request in flight per thread,
// rand_write ends with an fsync inside the measured time); then vsock_g2h (connect to host port
// 7000, send, half-close, wait for the host's one-byte acknowledgement) and vsock_h2g (connect to
// host port 7001, read to EOF, acknowledge with one byte). The host times the vsock phases
// itself; the guest's times are printed too. Then net_g2h and net_h2g: the same two exchanges
// over TCP to the host's ports 7002 and 7003 on the tap (eth0 is configured first, with ioctls).
//
// Console protocol, one line each (the host also samples the VMM's CPU time at start and result):
//   UVMIO start PHASE
//   UVMIO result PHASE bytes=B ops=O ns=T
//   UVMIO error PHASE: WHY            (then the VM powers off with status 9)
//   UVMIO end
// Included by test_init.cc only (the initramfs is built from one translation unit).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../../base/netif.h"
#include "vsock_mode.h"

namespace iobench_mode {

constexpr unsigned kG2hPort = 7000;
constexpr unsigned kH2gPort = 7001;
constexpr uint16_t kNetG2hPort = 7002;
constexpr uint16_t kNetH2gPort = 7003;
constexpr size_t kSeqChunk = 1 << 20;
constexpr size_t kRandBlock = 4096;
constexpr size_t kStreamChunk = 256 * 1024;

inline long EnvNumber(const char* name, long fallback, long max) {
  const char* v = std::getenv(name);
  if (!v) return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return (end == v || *end != 0 || n < 0 || n > max) ? fallback : n;
}

inline uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

struct Outcome {
  std::string error;  // empty: success
  uint64_t bytes = 0;
  uint64_t ops = 0;
};

inline void Start(const char* phase) {
  std::printf("UVMIO start %s\n", phase);
  std::fflush(stdout);
}

// Runs one phase between its start and result lines; false if it failed.
template <typename F>
bool Phase(const char* phase, F&& body) {
  Start(phase);
  const uint64_t t0 = NowNs();
  Outcome o = body();
  const uint64_t ns = NowNs() - t0;
  if (!o.error.empty()) {
    std::printf("UVMIO error %s: %s\n", phase, o.error.c_str());
  } else {
    std::printf("UVMIO result %s bytes=%llu ops=%llu ns=%llu\n", phase,
                static_cast<unsigned long long>(o.bytes), static_cast<unsigned long long>(o.ops),
                static_cast<unsigned long long>(ns));
  }
  std::fflush(stdout);
  return o.error.empty();
}

inline std::string Errno(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

inline char* AlignedBuffer(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, 4096, bytes) != 0) return nullptr;
  std::memset(p, 0x5a, bytes);
  return static_cast<char*>(p);
}

inline Outcome Sequential(int fd, uint64_t bytes, bool write_phase) {
  static char* buf = AlignedBuffer(kSeqChunk);
  if (!buf) return {"out of memory", 0, 0};
  Outcome o;
  for (uint64_t off = 0; off < bytes; off += kSeqChunk) {
    ssize_t n = write_phase ? pwrite(fd, buf, kSeqChunk, static_cast<off_t>(off))
                            : pread(fd, buf, kSeqChunk, static_cast<off_t>(off));
    if (n != static_cast<ssize_t>(kSeqChunk)) {
      return {n < 0 ? Errno(write_phase ? "pwrite" : "pread") : "short transfer", 0, 0};
    }
    o.bytes += kSeqChunk;
    ++o.ops;
  }
  if (write_phase && fsync(fd) != 0) return {Errno("fsync"), 0, 0};
  return o;
}

// `threads` threads, each issuing one 4 KiB request at a time at random aligned offsets below
// `span`, for `secs` seconds.
inline Outcome Random(int fd, uint64_t span, long secs, long threads, bool write_phase) {
  const uint64_t blocks = span / kRandBlock;
  const uint64_t deadline = NowNs() + static_cast<uint64_t>(secs) * 1000000000u;
  std::atomic<uint64_t> ops{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> pool;
  for (long t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      char* buf = AlignedBuffer(kRandBlock);
      if (!buf) {
        failed = true;
        return;
      }
      uint64_t x = 0x9e3779b97f4a7c15u * static_cast<uint64_t>(t + 1);  // xorshift64 state
      uint64_t mine = 0;
      while (!failed && NowNs() < deadline) {
        for (int i = 0; i < 16; ++i) {  // check the clock every 16 requests
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          const off_t off = static_cast<off_t>((x % blocks) * kRandBlock);
          ssize_t n =
              write_phase ? pwrite(fd, buf, kRandBlock, off) : pread(fd, buf, kRandBlock, off);
          if (n != static_cast<ssize_t>(kRandBlock)) failed = true;
          ++mine;
        }
      }
      ops += mine;
      std::free(buf);
    });
  }
  for (auto& th : pool) th.join();
  if (failed) return {"a 4 KiB request failed", 0, 0};
  if (write_phase && fsync(fd) != 0) return {Errno("fsync"), 0, 0};
  return {"", ops * kRandBlock, ops};
}

// Guest -> host over a connected stream socket `fd` (closed here): send, half-close, wait for
// the host's one-byte acknowledgement.
inline Outcome StreamSend(int fd, uint64_t bytes) {
  if (fd < 0) return {Errno("connect"), 0, 0};
  std::string chunk(kStreamChunk, 'u');
  Outcome o;
  while (o.bytes < bytes) {
    ssize_t w = write(fd, chunk.data(), std::min<uint64_t>(chunk.size(), bytes - o.bytes));
    if (w <= 0) {
      close(fd);
      return {Errno("write"), 0, 0};
    }
    o.bytes += static_cast<uint64_t>(w);
    ++o.ops;
  }
  shutdown(fd, SHUT_WR);
  char ack;
  ssize_t n = read(fd, &ack, 1);
  close(fd);
  if (n != 1) return {"no acknowledgement from the host", 0, 0};
  return o;
}

// Host -> guest over `fd` (closed here): read to EOF, acknowledge with one byte.
inline Outcome StreamReceive(int fd, uint64_t bytes) {
  if (fd < 0) return {Errno("connect"), 0, 0};
  std::string buf(kStreamChunk, '\0');
  Outcome o;
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0) {
      close(fd);
      return {Errno("read"), 0, 0};
    }
    if (n == 0) break;
    o.bytes += static_cast<uint64_t>(n);
    ++o.ops;
  }
  const char ack = 'k';
  ssize_t w = write(fd, &ack, 1);
  close(fd);
  if (w != 1) return {Errno("write ack"), 0, 0};
  if (o.bytes != bytes) return {"got " + std::to_string(o.bytes) + " bytes", 0, 0};
  return o;
}

// A TCP connection to the host's `port` on the tap; -1 with errno set.
inline int ConnectTcp(const char* peer, uint16_t port) {
  sockaddr_in host{};
  host.sin_family = AF_INET;
  host.sin_port = htons(port);
  if (inet_pton(AF_INET, peer, &host.sin_addr) != 1) {
    errno = EINVAL;
    return -1;
  }
  return vsock_mode::ConnectStream(host);
}

// The net phases (eth0 configured first); true if both ran.
inline bool NetPhases(uint64_t bytes) {
  const char* ip = std::getenv("uvmio_net_ip");
  const char* peer = std::getenv("uvmio_net_peer");
  if (!ip || !peer) {
    std::printf("UVMIO error net: needs uvmio_net_ip and uvmio_net_peer\n");
    return false;
  }
  if (!uvm::netif::LoopbackUp() || !uvm::netif::ConfigureIpv4("eth0", ip)) {
    std::printf("UVMIO error net: configuring eth0: %s\n", std::strerror(errno));
    return false;
  }
  return Phase("net_g2h", [&] { return StreamSend(ConnectTcp(peer, kNetG2hPort), bytes); }) &&
         Phase("net_h2g", [&] { return StreamReceive(ConnectTcp(peer, kNetH2gPort), bytes); });
}

// Returns the power-off status: 0 when every phase ran.
inline int Run() {
  const long mib = EnvNumber("uvmio_mib", 64, 1 << 20);
  const long secs = EnvNumber("uvmio_secs", 3, 3600);
  const long threads = EnvNumber("uvmio_threads", 8, 256);
  const long vsock_mib = EnvNumber("uvmio_vsock_mib", 64, 1 << 20);
  const long net_mib = EnvNumber("uvmio_net_mib", 0, 1 << 20);
  const bool only_net = EnvNumber("uvmio_only_net", 0, 1) == 1;
  const uint64_t vsock_bytes = static_cast<uint64_t>(vsock_mib) << 20;
  int fd = -1;
  bool ok = true;
  if (!only_net) {
    fd = open("/dev/vda", O_RDWR | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
      std::printf("UVMIO error open: %s\n", std::strerror(errno));
      return 9;
    }
    uint64_t size = 0;
    if (ioctl(fd, BLKGETSIZE64, &size) != 0) size = 0;
    const uint64_t bytes =
        std::min<uint64_t>(static_cast<uint64_t>(mib) << 20, size) / kSeqChunk * kSeqChunk;
    if (bytes == 0 || threads == 0) {
      std::printf("UVMIO error setup: disk of %llu bytes, %ld threads\n",
                  static_cast<unsigned long long>(size), threads);
      return 9;
    }
    ok = Phase("seq_write", [&] { return Sequential(fd, bytes, true); }) &&
         Phase("seq_read", [&] { return Sequential(fd, bytes, false); }) &&
         Phase("rand_read", [&] { return Random(fd, bytes, secs, threads, false); }) &&
         Phase("rand_write", [&] { return Random(fd, bytes, secs, threads, true); }) &&
         (vsock_mib == 0 ||
          (Phase("vsock_g2h",
                 [&] { return StreamSend(vsock_mode::ConnectHost(kG2hPort), vsock_bytes); }) &&
           Phase("vsock_h2g",
                 [&] { return StreamReceive(vsock_mode::ConnectHost(kH2gPort), vsock_bytes); })));
  }
  ok = ok && (net_mib == 0 || NetPhases(static_cast<uint64_t>(net_mib) << 20));
  if (fd >= 0) close(fd);
  std::printf("UVMIO end\n");
  return ok ? 0 : 9;
}

}  // namespace iobench_mode
