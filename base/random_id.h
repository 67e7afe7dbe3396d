// Random lowercase hex identifiers (a run's id, a container's hostname), from the kernel's random
// source.
#pragma once

#include <sys/random.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

namespace uvm {

// `digits` random lowercase hex digits.
inline std::string RandomHexId(size_t digits = 16) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(digits);
  while (out.size() < digits) {
    uint8_t bytes[32];
    const size_t want = std::min(sizeof bytes, (digits - out.size() + 1) / 2);
    ssize_t n = ::getrandom(bytes, want, 0);
    if (n <= 0) continue;  // EINTR; the urandom pool never runs dry once initialised
    for (ssize_t i = 0; i < n && out.size() < digits; ++i) {
      out += kHex[bytes[i] >> 4];
      if (out.size() < digits) out += kHex[bytes[i] & 0xf];
    }
  }
  return out;
}

}  // namespace uvm
