// The I/O buses a vCPU exit is dispatched on (one for port I/O, one for MMIO). A bus is built once,
// before any vCPU runs, and never changes afterwards, so lookups need no lock; devices lock their
// own state. Unclaimed accesses are the caller's business (reads as zero, logged at a limited
// rate).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace uvm::devices {

class BusDevice {
 public:
  virtual ~BusDevice() = default;
  // `offset` is relative to the start of the device's range; data.size() is 1, 2, 4 or 8.
  virtual void Read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void Write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

class Bus {
 public:
  struct Range {
    uint64_t base;
    uint64_t size;
    std::shared_ptr<BusDevice> device;
    std::string name;
  };

  class Builder {
   public:
    // Fails if the range is empty, wraps around, or overlaps one already added.
    Result<void> Add(uint64_t base, uint64_t size, std::shared_ptr<BusDevice> device,
                     std::string name);
    Bus Build() &&;

   private:
    std::vector<Range> ranges_;
  };

  Bus() = default;

  // Dispatches to the device whose range holds [addr, addr+len); false if no device claims it all.
  bool Read(uint64_t addr, std::span<uint8_t> data) const;
  bool Write(uint64_t addr, std::span<const uint8_t> data) const;
  const std::vector<Range>& ranges() const { return ranges_; }

 private:
  explicit Bus(std::vector<Range> sorted) : ranges_(std::move(sorted)) {}
  const Range* Find(uint64_t addr, uint64_t len) const;

  std::vector<Range> ranges_;  // sorted by base, non-overlapping
};

}  // namespace uvm::devices
