#include "devices/bus.h"

#include <algorithm>
#include <cstdio>

namespace uvm::devices {

Result<void> Bus::Builder::Add(uint64_t base, uint64_t size, std::shared_ptr<BusDevice> device,
                               std::string name) {
  if (size == 0 || base + size < base) return Err("bus: device " + name + " has an invalid range");
  for (const Range& r : ranges_) {
    if (base < r.base + r.size && r.base < base + size) {
      return Err("bus: device " + name + " overlaps " + r.name);
    }
  }
  ranges_.push_back({base, size, std::move(device), std::move(name)});
  return {};
}

Bus Bus::Builder::Build() && {
  std::sort(ranges_.begin(), ranges_.end(),
            [](const Range& a, const Range& b) { return a.base < b.base; });
  return Bus(std::move(ranges_));
}

const Bus::Range* Bus::Find(uint64_t addr, uint64_t len) const {
  // Last range whose base <= addr.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), addr,
                             [](uint64_t a, const Range& r) { return a < r.base; });
  if (it == ranges_.begin()) return nullptr;
  --it;
  uint64_t off = addr - it->base;
  if (off >= it->size || len > it->size - off) return nullptr;
  return &*it;
}

bool Bus::Read(uint64_t addr, std::span<uint8_t> data) const {
  const Range* r = Find(addr, data.size());
  if (!r) return false;
  r->device->Read(addr - r->base, data);
  return true;
}

bool Bus::Write(uint64_t addr, std::span<const uint8_t> data) const {
  const Range* r = Find(addr, data.size());
  if (!r) return false;
  r->device->Write(addr - r->base, data);
  return true;
}

}  // namespace uvm::devices
