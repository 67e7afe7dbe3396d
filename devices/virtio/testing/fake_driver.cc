#include "devices/virtio/testing/fake_driver.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::testing {
namespace {

constexpr size_t kPage = 4096;

uint8_t* Zeroed(size_t size) {
  size_t rounded = (size + kPage - 1) / kPage * kPage;
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(kPage, rounded == 0 ? kPage : rounded));
  if (!p) std::abort();  // tests only: out of memory
  std::memset(p, 0, rounded == 0 ? kPage : rounded);
  return p;
}

template <class T>
void Put(const GuestMemory& mem, uint64_t gpa, T v) {
  std::memcpy(mem.HostPtr(gpa, sizeof v), &v, sizeof v);
}

template <class T>
T Get(const GuestMemory& mem, uint64_t gpa) {
  T v;
  std::memcpy(&v, mem.HostPtr(gpa, sizeof v), sizeof v);
  return v;
}

}  // namespace

void FakeRam::Free::operator()(uint8_t* p) const { std::free(p); }

FakeRam::FakeRam(size_t size)
    : size_(size), buf_(Zeroed(size)), mem_(GuestMemory::View(buf_.get(), size)) {}

FakeDriver::FakeDriver(const GuestMemory& mem, uint16_t size, uint64_t ring_base,
                       uint64_t heap_base)
    : mem_(mem), size_(size), heap_(heap_base) {
  desc_ = ring_base;
  avail_ = desc_ + DescTableBytes(size);
  used_ = (avail_ + AvailRingBytes(size) + 3) & ~uint64_t{3};
}

QueueState FakeDriver::ReadyState(bool event_idx, bool indirect) const {
  QueueState s;
  s.size = size_;
  s.max_size = size_;
  s.ready = true;
  s.desc_addr = desc_;
  s.avail_addr = avail_;
  s.used_addr = used_;
  s.event_idx = event_idx;
  s.indirect = indirect;
  return s;
}

uint64_t FakeDriver::Alloc(uint32_t len) {
  uint64_t gpa = heap_;
  heap_ = (heap_ + len + 15) & ~uint64_t{15};
  std::memset(mem_.HostPtr(gpa, len), 0, len);
  return gpa;
}

void FakeDriver::WriteBytes(uint64_t gpa, std::span<const uint8_t> data) {
  std::memcpy(mem_.HostPtr(gpa, data.size()), data.data(), data.size());
}

std::vector<uint8_t> FakeDriver::ReadBytes(uint64_t gpa, uint32_t len) const {
  const uint8_t* p = mem_.HostPtr(gpa, len);
  return std::vector<uint8_t>(p, p + len);
}

void FakeDriver::SetTableDesc(const GuestMemory& mem, uint64_t table, uint32_t index, uint64_t addr,
                              uint32_t len, uint16_t flags, uint16_t next) {
  uint64_t at = table + kDescSize * index;
  Put(mem, at, addr);
  Put(mem, at + 8, len);
  Put(mem, at + 12, flags);
  Put(mem, at + 14, next);
}

void FakeDriver::SetDesc(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags,
                         uint16_t next) {
  SetTableDesc(mem_, desc_, index, addr, len, flags, next);
}

uint16_t FakeDriver::AddChain(std::span<const FakeBuffer> bufs) {
  uint16_t head = next_desc_;
  for (size_t i = 0; i < bufs.size(); ++i) {
    uint16_t index = next_desc_;
    next_desc_ = static_cast<uint16_t>((next_desc_ + 1) % size_);
    bool last = i + 1 == bufs.size();
    uint16_t flags = (bufs[i].writable ? kDescFWrite : 0) | (last ? 0 : kDescFNext);
    SetDesc(index, bufs[i].addr, bufs[i].len, flags, last ? 0 : next_desc_);
  }
  return head;
}

uint16_t FakeDriver::AddIndirectChain(std::span<const FakeBuffer> bufs) {
  uint64_t table = Alloc(static_cast<uint32_t>(kDescSize * bufs.size()));
  for (size_t i = 0; i < bufs.size(); ++i) {
    bool last = i + 1 == bufs.size();
    uint16_t flags = (bufs[i].writable ? kDescFWrite : 0) | (last ? 0 : kDescFNext);
    SetTableDesc(mem_, table, static_cast<uint32_t>(i), bufs[i].addr, bufs[i].len, flags,
                 last ? 0 : static_cast<uint16_t>(i + 1));
  }
  uint16_t head = next_desc_;
  next_desc_ = static_cast<uint16_t>((next_desc_ + 1) % size_);
  SetDesc(head, table, static_cast<uint32_t>(kDescSize * bufs.size()), kDescFIndirect, 0);
  return head;
}

void FakeDriver::SetAvailRing(uint16_t slot, uint16_t head) {
  Put(mem_, avail_ + 4 + 2 * (slot % size_), head);
}

void FakeDriver::SetAvailIdx(uint16_t idx) {
  avail_idx_ = idx;
  std::atomic_thread_fence(std::memory_order_release);  // ring entry before idx (2.7.13.3)
  Put(mem_, avail_ + 2, idx);
}

void FakeDriver::Publish(uint16_t head) {
  SetAvailRing(avail_idx_, head);
  SetAvailIdx(static_cast<uint16_t>(avail_idx_ + 1));
}

uint16_t FakeDriver::Post(std::initializer_list<FakeBuffer> bufs, bool indirect) {
  std::span<const FakeBuffer> s(bufs.begin(), bufs.size());
  uint16_t head = indirect ? AddIndirectChain(s) : AddChain(s);
  Publish(head);
  return head;
}

void FakeDriver::SetAvailFlags(uint16_t flags) { Put(mem_, avail_, flags); }
void FakeDriver::SetUsedEvent(uint16_t idx) { Put(mem_, avail_ + 4 + 2ull * size_, idx); }
uint16_t FakeDriver::UsedIdx() const { return Get<uint16_t>(mem_, used_ + 2); }
uint16_t FakeDriver::UsedFlags() const { return Get<uint16_t>(mem_, used_); }
uint16_t FakeDriver::AvailEvent() const { return Get<uint16_t>(mem_, used_ + 4 + 8ull * size_); }

UsedElem FakeDriver::UsedAt(uint16_t slot) const {
  uint64_t at = used_ + 4 + 8ull * (slot % size_);
  return {Get<uint32_t>(mem_, at), Get<uint32_t>(mem_, at + 4)};
}

std::optional<UsedElem> FakeDriver::PopUsed() {
  if (UsedIdx() == last_used_) return std::nullopt;
  std::atomic_thread_fence(std::memory_order_acquire);
  return UsedAt(last_used_++);
}

uint32_t MmioRead32(BusDevice& dev, uint64_t offset) {
  uint8_t b[4] = {};
  dev.Read(offset, b);
  uint32_t v;
  std::memcpy(&v, b, 4);
  return v;
}

void MmioWrite32(BusDevice& dev, uint64_t offset, uint32_t value) {
  uint8_t b[4];
  std::memcpy(b, &value, 4);
  dev.Write(offset, b);
}

uint32_t InitMmioDevice(BusDevice& dev, uint64_t features, std::span<FakeDriver* const> queues) {
  MmioWrite32(dev, mmio::kStatus, 0);
  MmioWrite32(dev, mmio::kStatus, kStatusAcknowledge);
  MmioWrite32(dev, mmio::kStatus, kStatusAcknowledge | kStatusDriver);
  for (uint32_t sel = 0; sel < 2; ++sel) {
    MmioWrite32(dev, mmio::kDriverFeaturesSel, sel);
    MmioWrite32(dev, mmio::kDriverFeatures, static_cast<uint32_t>(features >> (32 * sel)));
  }
  uint32_t status = kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk;
  MmioWrite32(dev, mmio::kStatus, status);
  if (!(MmioRead32(dev, mmio::kStatus) & kStatusFeaturesOk)) return MmioRead32(dev, mmio::kStatus);
  for (size_t i = 0; i < queues.size(); ++i) {
    FakeDriver* q = queues[i];
    if (!q) continue;
    MmioWrite32(dev, mmio::kQueueSel, static_cast<uint32_t>(i));
    MmioWrite32(dev, mmio::kQueueNum, q->size());
    MmioWrite32(dev, mmio::kQueueDescLow, static_cast<uint32_t>(q->desc_addr()));
    MmioWrite32(dev, mmio::kQueueDescHigh, static_cast<uint32_t>(q->desc_addr() >> 32));
    MmioWrite32(dev, mmio::kQueueDriverLow, static_cast<uint32_t>(q->avail_addr()));
    MmioWrite32(dev, mmio::kQueueDriverHigh, static_cast<uint32_t>(q->avail_addr() >> 32));
    MmioWrite32(dev, mmio::kQueueDeviceLow, static_cast<uint32_t>(q->used_addr()));
    MmioWrite32(dev, mmio::kQueueDeviceHigh, static_cast<uint32_t>(q->used_addr() >> 32));
    MmioWrite32(dev, mmio::kQueueReady, 1);
  }
  MmioWrite32(dev, mmio::kStatus, status | kStatusDriverOk);
  return MmioRead32(dev, mmio::kStatus);
}

}  // namespace uvm::devices::virtio::testing
