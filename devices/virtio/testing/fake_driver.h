// The driver side of virtio for unit tests, fuzzers and device tests: guest RAM in a host buffer,
// split-ring layout, descriptor chains (direct and indirect), the avail and used rings, and the
// virtio-mmio initialization sequence Linux's virtio_mmio.c performs.
//
// Typical use:
//   FakeRam ram(1 << 20);
//   FakeDriver drv(ram.mem(), /*size=*/8, /*ring_base=*/0x1000, /*heap_base=*/0x10000);
//   Queue q(8);
//   q.state() = drv.ReadyState();
//   uint64_t req = drv.Alloc(16), resp = drv.Alloc(1);
//   drv.Post({{req, 16, false}, {resp, 1, true}});   // one chain, published
//   auto chain = q.PopChain(ram.mem());              // the device's view
//   q.PushUsed(ram.mem(), (*chain)->head, 1);
//   auto used = drv.PopUsed();                       // {id, len}
//
// Nothing here checks anything: hostile tests use the raw setters to build broken rings.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/guest_memory.h"
#include "devices/bus.h"
#include "devices/virtio/queue.h"

namespace uvm::devices::virtio::testing {

// Zeroed, page-aligned host memory seen as guest RAM [0, size).
class FakeRam {
 public:
  explicit FakeRam(size_t size);
  const GuestMemory& mem() const { return mem_; }
  size_t size() const { return size_; }
  uint8_t* host(uint64_t gpa) { return buf_.get() + gpa; }  // no check: tests only

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  size_t size_;
  std::unique_ptr<uint8_t, Free> buf_;
  GuestMemory mem_;
};

struct FakeBuffer {
  uint64_t addr;
  uint32_t len;
  bool writable;  // device-writable (VIRTQ_DESC_F_WRITE)
};

struct UsedElem {
  uint32_t id;
  uint32_t len;
};

class FakeDriver {
 public:
  // Rings at ring_base (16-aligned): descriptor table, then the avail ring, then the used ring at
  // the next 4-aligned address. Alloc() hands out memory from heap_base upwards.
  FakeDriver(const GuestMemory& mem, uint16_t size, uint64_t ring_base, uint64_t heap_base);

  uint16_t size() const { return size_; }
  uint64_t desc_addr() const { return desc_; }
  uint64_t avail_addr() const { return avail_; }
  uint64_t used_addr() const { return used_; }
  // A ready QueueState describing these rings (for driving a Queue without a transport).
  QueueState ReadyState(bool event_idx = false, bool indirect = false) const;

  // `len` zeroed bytes of guest memory (16-aligned), from the heap.
  uint64_t Alloc(uint32_t len);
  void WriteBytes(uint64_t gpa, std::span<const uint8_t> data);
  std::vector<uint8_t> ReadBytes(uint64_t gpa, uint32_t len) const;

  // Writes a chain into the descriptor table (descriptors taken round-robin) and returns its head;
  // not yet visible to the device.
  uint16_t AddChain(std::span<const FakeBuffer> bufs);
  // One ring descriptor pointing at a freshly allocated indirect table holding the chain.
  uint16_t AddIndirectChain(std::span<const FakeBuffer> bufs);
  // Appends head to the avail ring and bumps avail idx (release ordering).
  void Publish(uint16_t head);
  // AddChain (or AddIndirectChain) + Publish.
  uint16_t Post(std::initializer_list<FakeBuffer> bufs, bool indirect = false);

  // Raw access for hostile tests.
  void SetDesc(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
  static void SetTableDesc(const GuestMemory& mem, uint64_t table, uint32_t index, uint64_t addr,
                           uint32_t len, uint16_t flags, uint16_t next);
  void SetAvailRing(uint16_t slot, uint16_t head);
  void SetAvailIdx(uint16_t idx);
  uint16_t avail_idx() const { return avail_idx_; }
  void SetAvailFlags(uint16_t flags);
  void SetUsedEvent(uint16_t idx);  // EVENT_IDX: interrupt me when used idx passes idx

  // The device's side, as the driver reads it.
  uint16_t UsedIdx() const;
  uint16_t UsedFlags() const;
  uint16_t AvailEvent() const;  // EVENT_IDX: notify the device when avail idx passes this
  UsedElem UsedAt(uint16_t slot) const;
  // The next used element not yet consumed, if the device published one.
  std::optional<UsedElem> PopUsed();

 private:
  const GuestMemory& mem_;
  uint16_t size_;
  uint64_t desc_, avail_, used_;
  uint64_t heap_;
  uint16_t next_desc_ = 0;
  uint16_t avail_idx_ = 0;
  uint16_t last_used_ = 0;
};

// 32-bit register access to a virtio-mmio window.
uint32_t MmioRead32(BusDevice& dev, uint64_t offset);
void MmioWrite32(BusDevice& dev, uint64_t offset, uint32_t value);

// The 4.2.3 initialization as Linux does it: reset, ACKNOWLEDGE, DRIVER, write `features`,
// FEATURES_OK (read back), then for queue i = 0.. the rings of queues[i] (nullptr: skipped), then
// DRIVER_OK. Returns the final Status register value.
uint32_t InitMmioDevice(BusDevice& dev, uint64_t features, std::span<FakeDriver* const> queues);

}  // namespace uvm::devices::virtio::testing
