#include "boot/layout.h"

#include <algorithm>

namespace uvm::boot {

std::vector<RegionSpec> RamRegions(uint64_t ram_bytes) {
  std::vector<RegionSpec> regions;
  if (ram_bytes == 0) return regions;
  // Low RAM stops where the MMIO window (devices, IOAPIC, LAPIC) begins; whatever does not fit
  // below it is relocated above 4 GiB so the guest still gets all the memory it asked for.
  const uint64_t low = std::min(ram_bytes, kMmioGapStart);
  regions.push_back({0, low});
  if (ram_bytes > low) regions.push_back({kMmioGapEnd, ram_bytes - low});
  return regions;
}

}  // namespace uvm::boot
