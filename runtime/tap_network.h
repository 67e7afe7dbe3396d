// `uvm run --net tap`: the container's VM gets a virtio-net device on a tap of its own, and the tap
// and the guest's eth0 share a point-to-point /30 from 172.30.0.0/16: the host side is the first
// address (the guest's gateway), the guest the second. The tap is created when the VM starts and
// vanishes with it (it is not persistent), taking its address and route along.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace uvm::runtime {

struct TapNetwork {
  std::string tap;  // host interface, "uvm" + 8 hex digits of the run's id
  std::string mac;  // the guest's MAC: locally administered, from the run's id
  std::string host_address;
  std::string guest_address;
  int prefix = 30;
};

// The /30s of 172.30.0.0/16.
inline constexpr uint32_t kTapSubnetBase = 0xac1e0000;  // 172.30.0.0
inline constexpr uint32_t kTapSubnets = 1 << 14;

// Picks the first /30 at or after an index derived from `run_id` (hex digits) that holds none of
// `in_use` (host IPv4 addresses, host byte order); an error if all are taken.
Result<TapNetwork> PlanTapNetwork(const std::string& run_id, const std::vector<uint32_t>& in_use);

// The IPv4 addresses of every host interface (getifaddrs), host byte order.
std::vector<uint32_t> HostIpv4Addresses();

// Gives the (existing) tap its host address and brings it up.
Result<void> ConfigureHostTap(const TapNetwork& net);

}  // namespace uvm::runtime
