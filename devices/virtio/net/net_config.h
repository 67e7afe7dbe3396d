// Which tap a virtio-net device uses and the MAC address the guest sees (config space, 5.1.4).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace uvm::devices::virtio::net {

using MacAddress = std::array<uint8_t, 6>;

struct NetSpec {
  std::string tap;  // interface name, at most IFNAMSIZ - 1 bytes
  MacAddress mac{};
};

// "52:54:00:12:34:56" (hex digits, either case). Multicast addresses (low bit of the first byte)
// and all-zero are refused: a NIC cannot have them.
Result<MacAddress> ParseMac(std::string_view text);
std::string FormatMac(const MacAddress& mac);

// Without mac=, the MAC is derived from the tap name: 02:75:76 ("locally administered", then
// "uv") followed by three bytes of an FNV-1a hash of the name, so the same --net gets the same
// MAC on every boot and different taps get different MACs.
MacAddress DefaultMac(std::string_view tap);

// A valid interface name for a tap: 1..15 bytes, no '/', ':' or whitespace, not "." or "..".
Result<void> CheckTapName(std::string_view name);

}  // namespace uvm::devices::virtio::net
