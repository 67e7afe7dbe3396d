// A minimal VirtioDevice for transport tests: two queues of 8, an 8-byte writable config space,
// and every chain answered with the byte 0x42 in its first writable byte. Counts activations,
// resets and quiesces, and can be told to fail activation or quiescing or to run a hook at the end
// of ProcessQueue().
#pragma once

#include <algorithm>
#include <array>
#include <functional>
#include <span>

#include "devices/virtio/device.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::testing {

class EchoDevice : public VirtioDevice {
 public:
  // Offered besides `extra`: feature bit 0, EVENT_IDX and INDIRECT_DESC.
  explicit EchoDevice(uint64_t extra = 0) : extra_(extra) {}

  uint32_t DeviceType() const override { return kDeviceIdBlock; }
  uint64_t Features() const override {
    return Bit(0) | Bit(kFeatureEventIdx) | Bit(kFeatureIndirectDesc) | extra_;
  }
  size_t NumQueues() const override { return 2; }
  uint16_t QueueMaxSize(size_t) const override { return 8; }
  void ReadConfig(uint64_t offset, std::span<uint8_t> data) override {
    ReadConfigBytes(config, offset, data);
  }
  void WriteConfig(uint64_t offset, std::span<const uint8_t> data) override {
    if (offset < config.size() && data.size() <= config.size() - offset) {
      std::copy(data.begin(), data.end(), config.begin() + offset);
    }
  }
  Result<void> Activate(const GuestMemory& m, uint64_t f, std::span<Queue> q,
                        InterruptSink& i) override {
    ++activations;
    features = f;
    mem = &m;
    queues = q;
    irq = &i;
    if (fail_activate) return Err("no backend");
    return {};
  }
  void Reset() override {
    ++resets;
    queues = {};
  }
  Result<void> Quiesce() override {
    ++quiesces;
    if (fail_quiesce) return Err("stuck");
    return {};
  }
  Result<void> ProcessQueue(size_t index) override {
    Queue& q = queues[index];
    for (;;) {
      UVM_TRY(auto chain, q.PopChain(*mem));
      if (!chain) break;
      ChainWriter w(*chain);
      w.WriteObj(uint8_t{0x42});
      q.PushUsed(*mem, chain->head, static_cast<uint32_t>(w.written()));
    }
    if (q.NeedsInterrupt(*mem)) irq->SignalUsed();
    if (after_processing) after_processing();  // still inside the transport's Notify()
    return {};
  }

  std::array<uint8_t, 8> config = {1, 2, 3, 4, 5, 6, 7, 8};
  int activations = 0, resets = 0, quiesces = 0;
  bool fail_activate = false, fail_quiesce = false;
  std::function<void()> after_processing;
  uint64_t features = 0;
  const GuestMemory* mem = nullptr;
  std::span<Queue> queues;
  InterruptSink* irq = nullptr;

 private:
  uint64_t extra_;
};

}  // namespace uvm::devices::virtio::testing
