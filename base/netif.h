// Configuring a network interface with plain ioctls (netdevice(7), SIOCETHTOOL), for the places
// that have no iproute2: the test init's guest side (images/test-init/, which includes this file
// by relative path: keep it header-only, system headers only), the net e2e test and
// `uvm bench io`'s host side of the tap.
#pragma once

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace uvm::netif {

inline ifreq Request(const char* ifname) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  return ifr;
}

// SIOCSIFADDR or SIOCSIFNETMASK with a dotted IPv4 address; `s` is any AF_INET socket.
inline bool SetIpv4(int s, const char* ifname, unsigned long req, const char* ip) {
  ifreq ifr = Request(ifname);
  auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
  sin->sin_family = AF_INET;
  if (inet_pton(AF_INET, ip, &sin->sin_addr) != 1) return false;
  return ioctl(s, req, &ifr) == 0;
}

inline bool SetUp(int s, const char* ifname) {
  ifreq ifr = Request(ifname);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) return false;
  ifr.ifr_flags |= IFF_UP;
  return ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
}

// An ethtool "get" (ETHTOOL_GTXCSUM, ETHTOOL_GTSO, ...) on ifname: 1 on, 0 off, -1 error.
inline int EthtoolGet(int s, const char* ifname, uint32_t cmd) {
  ethtool_value v{};
  v.cmd = cmd;
  ifreq ifr = Request(ifname);
  ifr.ifr_data = reinterpret_cast<char*>(&v);
  if (ioctl(s, SIOCETHTOOL, &ifr) < 0) return -1;
  return v.data ? 1 : 0;
}

// The netmask of an IPv4 prefix length (0..32), host byte order.
inline uint32_t PrefixMask(int prefix) {
  return prefix <= 0 ? 0 : prefix >= 32 ? ~uint32_t{0} : ~(~uint32_t{0} >> prefix);
}

// Gives ifname the address ip/prefix and brings it up; false with errno set on failure (the step
// that failed is not reported: callers say which interface).
inline bool ConfigureIpv4(const char* ifname, const char* ip, int prefix = 24) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  ifreq ifr = Request(ifname);
  auto* mask = reinterpret_cast<sockaddr_in*>(&ifr.ifr_netmask);
  mask->sin_family = AF_INET;
  mask->sin_addr.s_addr = htonl(PrefixMask(prefix));
  const bool ok = SetIpv4(s, ifname, SIOCSIFADDR, ip) && ioctl(s, SIOCSIFNETMASK, &ifr) == 0 &&
                  SetUp(s, ifname);
  const int saved = errno;
  close(s);
  errno = saved;
  return ok;
}

// Brings the loopback interface up (a fresh network namespace has it down).
inline bool LoopbackUp() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  const bool ok = SetUp(s, "lo");
  const int saved = errno;
  close(s);
  errno = saved;
  return ok;
}

}  // namespace uvm::netif
