#include "guest-agent/network.h"

#include <arpa/inet.h>
#include <net/route.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "base/netif.h"
#include "base/unique_fd.h"

namespace uvm::agent {
namespace {

std::string Netmask(int prefix) {
  const uint32_t mask = prefix >= 32 ? ~0u : ~(~0u >> prefix);
  in_addr a{htonl(mask)};
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &a, buf, sizeof buf);
}

sockaddr_in Ipv4(const std::string& dotted) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  inet_pton(AF_INET, dotted.c_str(), &sin.sin_addr);
  return sin;
}

// The default route through `gateway` on `ifname` (SIOCADDRT, route(7)'s ioctl); one that is
// already there is fine.
Result<void> AddDefaultRoute(int s, const std::string& ifname, const std::string& gateway) {
  rtentry rt{};
  sockaddr_in any = Ipv4("0.0.0.0");
  sockaddr_in gw = Ipv4(gateway);
  std::memcpy(&rt.rt_dst, &any, sizeof any);
  std::memcpy(&rt.rt_genmask, &any, sizeof any);
  std::memcpy(&rt.rt_gateway, &gw, sizeof gw);
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  std::string dev = ifname;  // rt_dev is a non-const char*
  rt.rt_dev = dev.data();
  if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST) {
    return ErrnoErr("default route via " + gateway);
  }
  return {};
}

}  // namespace

Result<void> ConfigureNetwork(const std::optional<Network>& network) {
  UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return ErrnoErr("network: socket");
  if (!netif::SetUp(s.get(), "lo")) return ErrnoErr("network: bringing lo up");
  if (!network) return {};
  UVM_CHECK(ValidateNetwork(*network));
  const char* ifname = network->interface.c_str();
  const std::string where = "network: " + network->interface;
  if (!netif::SetIpv4(s.get(), ifname, SIOCSIFADDR, network->address.c_str())) {
    return ErrnoErr(where + ": address " + network->address);
  }
  if (!netif::SetIpv4(s.get(), ifname, SIOCSIFNETMASK, Netmask(network->prefix).c_str())) {
    return ErrnoErr(where + ": netmask");
  }
  if (!netif::SetUp(s.get(), ifname)) return ErrnoErr(where + ": up");
  return Context(AddDefaultRoute(s.get(), network->interface, network->gateway), where);
}

}  // namespace uvm::agent
