// Fuzzes the virtio-mmio register file (devices/virtio/mmio_transport.h) with a trivial device
// that pops every chain on a notify. Input: a sequence of 8-byte operations
//   op (1) | offset (2) | value (4) | width (1)
// op % 4: 0 register/config read, 1 register/config write, 2 write 4 bytes of guest RAM
// (so queues can carry real, and broken, chains), 3 a notify from the event loop. At the end the
// transport is quiesced (the device holds back a queue-0 chain, as net and vsock hold an RX
// chain, and gives it back with Queue::Unpop against whatever the guest left in the avail ring),
// and its snapshot state must restore into a fresh transport (mmio_transport_state.h).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "base/guest_memory.h"
#include "devices/virtio/device.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/virtio_spec.h"

namespace virtio = uvm::devices::virtio;

namespace {

constexpr size_t kRam = 64 * 1024;

class SinkDevice : public virtio::VirtioDevice {
 public:
  uint32_t DeviceType() const override { return virtio::kDeviceIdBlock; }
  uint64_t Features() const override {
    return 0x3 | virtio::Bit(virtio::kFeatureEventIdx) | virtio::Bit(virtio::kFeatureIndirectDesc);
  }
  size_t NumQueues() const override { return 2; }
  uint16_t QueueMaxSize(size_t i) const override { return i == 0 ? 16 : 100; }
  void ReadConfig(uint64_t offset, std::span<uint8_t> data) override {
    virtio::ReadConfigBytes(config_, offset, data);
  }
  void WriteConfig(uint64_t offset, std::span<const uint8_t> data) override {
    if (offset < sizeof config_ && data.size() <= sizeof config_ - offset) {
      std::memcpy(config_ + offset, data.data(), data.size());
    }
  }
  uvm::Result<void> Activate(const uvm::GuestMemory& mem, uint64_t, std::span<virtio::Queue> q,
                             virtio::InterruptSink& irq) override {
    mem_ = &mem;
    queues_ = q;
    irq_ = &irq;
    return {};
  }
  void Reset() override {
    queues_ = {};
    spare_.reset();
  }
  uvm::Result<void> Quiesce() override {
    if (!spare_) return {};
    const uint16_t head = spare_->head;
    UVM_CHECK(queues_[0].Unpop(*mem_, std::span(&head, 1)));
    spare_.reset();
    return {};
  }
  uvm::Result<void> ProcessQueue(size_t index) override {
    virtio::Queue& q = queues_[index];
    for (int i = 0; i < 64; ++i) {
      std::optional<virtio::Chain> chain;
      if (index == 0 && spare_) {
        chain = std::move(spare_);  // the held chain is used before another is popped
        spare_.reset();
      } else {
        UVM_TRY(chain, q.PopChain(*mem_));
        if (!chain) break;
      }
      if (index == 0 && chain->writable_bytes() % 2 == 1) {  // held, not used
        spare_ = std::move(chain);
        break;
      }
      virtio::ChainWriter w(*chain);
      for (auto& s : w.Take(chain->writable_bytes())) std::memset(s.data(), 0x5a, s.size());
      virtio::ChainReader r(*chain);
      uint8_t sink[64];
      while (r.Read(sink) > 0) {
      }
      q.PushUsed(*mem_, chain->head, static_cast<uint32_t>(w.written()));
    }
    if (q.NeedsInterrupt(*mem_)) irq_->SignalUsed();
    return {};
  }

 private:
  uint8_t config_[24] = {};
  const uvm::GuestMemory* mem_ = nullptr;
  std::span<virtio::Queue> queues_;
  virtio::InterruptSink* irq_ = nullptr;
  std::optional<virtio::Chain> spare_;  // queue 0: popped, not used
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto* ram = static_cast<uint8_t*>(std::calloc(kRam, 1));
  uvm::GuestMemory mem = uvm::GuestMemory::View(ram, kRam);
  {
    virtio::MmioTransport t(mem, std::make_shared<SinkDevice>(), [] {});
    for (size_t at = 0; at + 8 <= size; at += 8) {
      const uint8_t* op = data + at;
      uint16_t offset;
      uint32_t value;
      std::memcpy(&offset, op + 1, 2);
      std::memcpy(&value, op + 3, 4);
      static constexpr size_t kWidths[4] = {4, 4, 1, 2};  // mostly 32-bit; 8 via op[7] & 4
      size_t width = (op[7] & 4) ? 8 : kWidths[op[7] % 4];
      uint8_t buf[8] = {};
      std::memcpy(buf, &value, 4);
      uint64_t off = offset % virtio::mmio::kWindowSize;
      if (off + width > virtio::mmio::kWindowSize) continue;  // the bus never sends these
      switch (op[0] % 4) {
        case 0:
          t.Read(off, std::span<uint8_t>(buf, width));
          break;
        case 1:
          t.Write(off, std::span<const uint8_t>(buf, width));
          break;
        case 2:
          if (offset + 4u <= kRam) std::memcpy(ram + offset, &value, 4);
          break;
        case 3:
          t.Notify(value % 4);
          break;
      }
    }
    // Whatever state the registers reached, its snapshot restores into a fresh transport and
    // saves back the same: the restore checks never refuse a state a driver can produce.
    // Quiescing fails only if the guest rewrote the avail entry of the held chain; either way the
    // state stays one a restore accepts, and after a success the device holds nothing back.
    const bool quiesced = t.Quiesce().has_value();
    const virtio::MmioTransportState saved = t.SaveState();
    if (quiesced && saved.activated && saved.queues[0].next_avail != saved.queues[0].next_used) {
      std::abort();
    }
    virtio::MmioTransport fresh(mem, std::make_shared<SinkDevice>(), [] {});
    if (!fresh.RestoreState(saved) || fresh.SaveState() != saved) std::abort();
  }
  std::free(ram);
  return 0;
}
