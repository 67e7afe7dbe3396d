#include "devices/virtio/net/net_config.h"

#include <net/if.h>

#include <cctype>
#include <cstdio>

namespace uvm::devices::virtio::net {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<void> CheckTapName(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return Err("tap name '" + std::string(name) + "' must be 1 to " + std::to_string(IFNAMSIZ - 1) +
               " characters");
  }
  if (name == "." || name == "..") return Err("tap name '" + std::string(name) + "' is invalid");
  for (char c : name) {
    if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) ||
        !std::isprint(static_cast<unsigned char>(c))) {
      return Err("tap name '" + std::string(name) + "' has an invalid character");
    }
  }
  return {};
}

Result<MacAddress> ParseMac(std::string_view text) {
  const std::string what = "MAC address '" + std::string(text) + "'";
  if (text.size() != 17) return Err(what + ": expected XX:XX:XX:XX:XX:XX");
  MacAddress mac{};
  for (size_t i = 0; i < 6; ++i) {
    const int hi = HexDigit(text[3 * i]);
    const int lo = HexDigit(text[3 * i + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':')) {
      return Err(what + ": expected XX:XX:XX:XX:XX:XX");
    }
    mac[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  if (mac[0] & 1) return Err(what + " is a multicast address");
  if (mac == MacAddress{}) return Err(what + " is all zeros");
  return mac;
}

std::string FormatMac(const MacAddress& mac) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return buf;
}

MacAddress DefaultMac(std::string_view tap) {
  uint32_t h = 2166136261u;  // FNV-1a, 32 bits
  for (char c : tap) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  return {0x02,
          0x75,
          0x76,
          static_cast<uint8_t>(h >> 16),
          static_cast<uint8_t>(h >> 8),
          static_cast<uint8_t>(h)};
}

}  // namespace uvm::devices::virtio::net
