#include "guest-agent/network.h"

#include <arpa/inet.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "base/netif.h"
#include "base/unique_fd.h"

namespace uvm::agent {
namespace {

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

// Gives ifname the MAC `text` with SIOCSIFHWADDR (netdevice(7)). Called before the interface is
// first brought up: nothing in the utility VM brings eth0 up but ConfigureNetwork, and a driver
// without live address change refuses a running interface (EBUSY). The address already in place
// is left alone, so a later exec changes nothing.
Result<void> SetMac(int s, const std::string& ifname, const std::string& text) {
  UVM_TRY(auto mac, ParseMacAddress(text));
  ifreq ifr = netif::Request(ifname.c_str());
  if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) return ErrnoErr("reading the MAC address");
  if (std::memcmp(ifr.ifr_hwaddr.sa_data, mac.data(), mac.size()) == 0) return {};
  ifr = netif::Request(ifname.c_str());
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  std::memcpy(ifr.ifr_hwaddr.sa_data, mac.data(), mac.size());
  if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0) return ErrnoErr("setting the MAC address " + text);
  return {};
}

}  // namespace

Result<void> ConfigureNetwork(const std::optional<Network>& network) {
  if (!netif::LoopbackUp()) return ErrnoErr("network: bringing lo up");
  if (!network) return {};
  UVM_CHECK(ValidateNetwork(*network));
  const std::string where = "network: " + network->interface;
  UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return ErrnoErr("network: socket");
  if (!network->mac.empty()) {
    UVM_CHECK(Context(SetMac(s.get(), network->interface, network->mac), where));
  }
  if (!netif::ConfigureIpv4(network->interface.c_str(), network->address.c_str(),
                            network->prefix)) {
    return ErrnoErr(where + ": address " + network->address + "/" +
                    std::to_string(network->prefix));
  }
  return Context(AddDefaultRoute(s.get(), network->interface, network->gateway), where);
}

}  // namespace uvm::agent
