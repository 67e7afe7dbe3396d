// `uvmtest=net` for the test init: TCP over virtio-net, both ways. Parameters come from the
// kernel command line (init's environment): uvmnet_ip (the guest's IPv4 address, /24),
// uvmnet_peer (the host's address on the tap), uvmnet_mib (MiB each way).
//   1. brings lo and eth0 up with ioctls (no iproute2 in the initramfs), prints eth0's MAC as
//      "UVMTEST net mac=..." and its offloads ("UVMTEST net eth0 tx-csum=1 tso=1"), listens on
//      TCP port 7000;
//   2. prints "UVMTEST net ready";
//   3. connects to peer:7001 (retrying while the host sets up its side), reads until EOF, answers
//      "<bytes> <fnv1a64 hex>\n" and closes;
//   4. accepts one connection on port 7000, sends it uvmnet_mib MiB of Pattern(), half-closes and
//      waits for the host to close (so nothing is lost in the socket buffer at power-off);
//   5. prints "UVMTEST net done" (or "UVMTEST net failed: why") and powers off.
// Included by test_init.cc only (the initramfs is built from one translation unit).
#pragma once

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../base/netif.h"

namespace net_mode {

constexpr uint16_t kGuestPort = 7000;
constexpr uint16_t kHostPort = 7001;

// Byte i of what the guest sends; the e2e test computes the same.
inline uint8_t Pattern(uint64_t i) { return static_cast<uint8_t>((i * 31) ^ (i >> 11)); }

inline int Fail(const std::string& why) {
  std::printf("UVMTEST net failed: %s: %s\n", why.c_str(), std::strerror(errno));
  return 1;
}

inline bool SendAll(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

inline int Run() {
  const char* ip = std::getenv("uvmnet_ip");
  const char* peer = std::getenv("uvmnet_peer");
  const char* mib_text = std::getenv("uvmnet_mib");
  if (!ip || !peer || !mib_text) {
    std::printf("UVMTEST net failed: needs uvmnet_ip, uvmnet_peer, uvmnet_mib\n");
    return 2;
  }
  const uint64_t bytes = std::strtoull(mib_text, nullptr, 10) << 20;
  if (!uvm::netif::LoopbackUp()) return Fail("lo up");
  if (!uvm::netif::ConfigureIpv4("eth0", ip)) return Fail("eth0 address, netmask or up");
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr = uvm::netif::Request("eth0");
  if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr) < 0) return Fail("eth0 MAC");
  const auto* m = reinterpret_cast<const uint8_t*>(ifr.ifr_hwaddr.sa_data);
  std::printf("UVMTEST net mac=%02x:%02x:%02x:%02x:%02x:%02x\n", m[0], m[1], m[2], m[3], m[4],
              m[5]);
  // The offloads the driver took from the device (HOST_CSUM/HOST_TSO4: what eth0 may send).
  std::printf("UVMTEST net eth0 tx-csum=%d tso=%d\n",
              uvm::netif::EthtoolGet(s, "eth0", ETHTOOL_GTXCSUM),
              uvm::netif::EthtoolGet(s, "eth0", ETHTOOL_GTSO));
  close(s);

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(kGuestPort);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener, reinterpret_cast<sockaddr*>(&any), sizeof any) < 0 || listen(listener, 4) < 0)
    return Fail("listen");
  std::printf("UVMTEST net ready\n");
  std::fflush(stdout);

  // 3. Guest -> host connection: the host sends, the guest hashes.
  sockaddr_in host{};
  host.sin_family = AF_INET;
  host.sin_port = htons(kHostPort);
  inet_pton(AF_INET, peer, &host.sin_addr);
  int c = -1;
  for (int tries = 0; tries < 600; ++tries) {  // up to 2 minutes (software-emulated lab)
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(c, reinterpret_cast<sockaddr*>(&host), sizeof host) == 0) break;
    close(c);
    c = -1;
    usleep(200 * 1000);
  }
  if (c < 0) return Fail("connect to the host");
  uint64_t got = 0, hash = 14695981039346656037ull;  // FNV-1a 64
  std::vector<uint8_t> buf(256 * 1024);
  for (;;) {
    ssize_t n = recv(c, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail("recv from the host");
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      hash ^= buf[static_cast<size_t>(i)];
      hash *= 1099511628211ull;
    }
    got += static_cast<uint64_t>(n);
  }
  char line[64];
  const int len =
      std::snprintf(line, sizeof line, "%llu %016llx\n", static_cast<unsigned long long>(got),
                    static_cast<unsigned long long>(hash));
  if (!SendAll(c, line, static_cast<size_t>(len))) return Fail("send the hash");
  close(c);
  std::printf("UVMTEST net received %llu\n", static_cast<unsigned long long>(got));

  // 4. Host -> guest connection: the guest sends the pattern.
  int a = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (a < 0) return Fail("accept");
  for (uint64_t off = 0; off < bytes;) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(buf.size(), bytes - off));
    for (size_t i = 0; i < chunk; ++i) buf[i] = Pattern(off + i);
    if (!SendAll(a, buf.data(), chunk)) return Fail("send to the host");
    off += chunk;
  }
  // Power-off follows at once: wait until the host has everything (it closes after reading our
  // FIN), or bytes still in the socket buffer would die with the VM.
  shutdown(a, SHUT_WR);
  timeval tv{120, 0};
  setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (recv(a, buf.data(), buf.size(), 0) > 0) {
  }
  close(a);
  close(listener);
  std::printf("UVMTEST net done\n");
  return 0;
}

}  // namespace net_mode
