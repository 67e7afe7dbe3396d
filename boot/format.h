// Small helpers that render addresses and sizes for boot/ error messages ("0x100000", "300 MiB").
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>

namespace uvm::boot {

inline std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

// Whole MiB when the value is at least 1 MiB (rounded up, so "does not fit" never reads as
// "0 MiB"), otherwise KiB or bytes.
inline std::string HumanSize(uint64_t bytes) {
  char buf[40];
  if (bytes >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%" PRIu64 " MiB", (bytes >> 20) + ((bytes & 0xfffff) != 0));
  } else if (bytes >= 1024) {
    std::snprintf(buf, sizeof buf, "%" PRIu64 " KiB", (bytes >> 10) + ((bytes & 0x3ff) != 0));
  } else {
    std::snprintf(buf, sizeof buf, "%" PRIu64 " bytes", bytes);
  }
  return buf;
}

}  // namespace uvm::boot
