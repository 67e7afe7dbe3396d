#include "runtime/tap_network.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cstdio>

#include "base/netif.h"

namespace uvm::runtime {
namespace {

std::string Dotted(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &a, buf, sizeof buf);
}

}  // namespace

Result<TapNetwork> PlanTapNetwork(const std::string& run_id, const std::vector<uint32_t>& in_use) {
  if (run_id.size() < 8 || run_id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Err("net: run id '" + run_id + "' is not 8 or more lowercase hex digits");
  }
  const uint32_t seed = static_cast<uint32_t>(std::stoul(run_id.substr(0, 8), nullptr, 16));
  for (uint32_t i = 0; i < kTapSubnets; ++i) {
    const uint32_t subnet = kTapSubnetBase + 4 * ((seed + i) % kTapSubnets);
    bool taken = false;
    for (uint32_t a : in_use) taken = taken || (a & ~3u) == subnet;
    if (taken) continue;
    TapNetwork n;
    n.tap = "uvm" + run_id.substr(0, 8);
    char mac[18];
    // 02: locally administered, unicast (IEEE 802, the U/L and I/G bits of the first octet).
    std::snprintf(mac, sizeof mac, "02:%02x:%02x:%02x:%02x:%02x", (seed >> 24) & 0xff,
                  (seed >> 16) & 0xff, (seed >> 8) & 0xff, seed & 0xff, i & 0xff);
    n.mac = mac;
    n.host_address = Dotted(subnet + 1);
    n.guest_address = Dotted(subnet + 2);
    return n;
  }
  return Err("net: every /30 of 172.30.0.0/16 is in use on this host");
}

std::vector<uint32_t> HostIpv4Addresses() {
  std::vector<uint32_t> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) < 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    out.push_back(ntohl(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr));
  }
  freeifaddrs(list);
  return out;
}

Result<void> ConfigureHostTap(const TapNetwork& net) {
  if (!netif::ConfigureIpv4(net.tap.c_str(), net.host_address.c_str(), net.prefix)) {
    return ErrnoErr("net: configuring " + net.tap + " as " + net.host_address + "/" +
                    std::to_string(net.prefix));
  }
  return {};
}

}  // namespace uvm::runtime
