// What a virtio device type (block, net, vsock, ...) implements; the transport (mmio_transport.h)
// does the rest: feature negotiation, the status state machine, queue setup, interrupts.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "base/guest_memory.h"
#include "base/result.h"
#include "devices/virtio/queue.h"

namespace uvm::devices::virtio {

// How a device reaches the driver. Implemented by the transport; every method is safe to call from
// any thread, with or without the transport's lock held (from inside ProcessQueue() too).
class InterruptSink {
 public:
  virtual ~InterruptSink() = default;
  // Used buffers were added to some queue (InterruptStatus bit 0). Call it when
  // Queue::NeedsInterrupt() says so.
  virtual void SignalUsed() = 0;
  // The device configuration space changed (bit 1); bumps ConfigGeneration (4.2.2).
  virtual void SignalConfigChange() = 0;
  // The device hit an error it cannot recover from without a reset (a broken queue found outside
  // ProcessQueue(), e.g. in an I/O completion): sets DEVICE_NEEDS_RESET (2.1.2), raises a
  // config-change interrupt and stops queue processing until the driver resets the device.
  virtual void SignalNeedsReset(const Error& why) = 0;
};

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  // Device ID (5 "Device Types"), e.g. kDeviceIdBlock.
  virtual uint32_t DeviceType() const = 0;
  // Device-type feature bits. May include Bit(kFeatureIndirectDesc) and Bit(kFeatureEventIdx) if
  // the device handles them (the queues do all the work); other transport bits (24..40) are
  // dropped. The transport adds VIRTIO_F_VERSION_1.
  virtual uint64_t Features() const = 0;
  // Number of queues and the maximum size of each (a power of two ≤ 32768).
  virtual size_t NumQueues() const = 0;
  virtual uint16_t QueueMaxSize(size_t index) const = 0;

  // Device configuration space (at 0x100 in the MMIO window). `offset` is relative to the start of
  // the space and guest-controlled: anything in [0, 0xf00) with 1, 2 or 4 bytes. Bytes past the
  // device's structure read as zero (`data` arrives zeroed) and writes there are ignored.
  // ReadConfigBytes() below does the bounds checking for the common case.
  virtual void ReadConfig(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void WriteConfig(uint64_t offset, std::span<const uint8_t> data) = 0;

  // The driver set DRIVER_OK. `features` are the negotiated ones; `queues` are the ready ones
  // (a queue the driver did not set up has ready == false and must not be used). `mem`, `queues`
  // and `irq` stay valid until Reset(). An error marks the device DEVICE_NEEDS_RESET.
  virtual Result<void> Activate(const GuestMemory& mem, uint64_t features, std::span<Queue> queues,
                                InterruptSink& irq) = 0;
  // The driver wrote 0 to Status (or a failed activation is undone). Called with the transport
  // lock held, from a vCPU thread: the device must stop touching the queues and guest memory
  // before it returns (cancel or wait for in-flight I/O). Called only after Activate(), even a
  // failed one.
  virtual void Reset() = 0;
  // The driver notified queue `index` (a ready queue of an activated device). Runs on the thread
  // that owns the queues (the device event loop). An error (a queue Pop that failed) marks the
  // device DEVICE_NEEDS_RESET; no further ProcessQueue() calls come until reset.
  virtual Result<void> ProcessQueue(size_t index) = 0;

  // Before a snapshot (vmm/snapshot): called with the vCPUs stopped, on the thread that owns the
  // queues (the device event loop's, or any while the loop is not running), and only on an
  // activated device, just before the transport's SaveState(). Afterwards the device holds no
  // guest chain outside the used ring: each one it took is either finished into the used ring
  // or given back (Queue::Unpop), so a queue's next_avail/next_used are all a restored device
  // needs. Host-side work (a frame waiting in a host buffer, socket connections) stays with this
  // device and is not part of the snapshot; the device keeps working afterwards, for a VM that
  // resumes. An error means the queues cannot be saved consistently (the snapshot must fail).
  virtual Result<void> Quiesce() { return {}; }

  // For a device that stops a ProcessQueue() at a work budget with chains still waiting (a guest
  // refilling its queue must not keep the device thread from every other device): calling
  // `requeue(index)` makes queue `index`'s kick come again once the event loop has served what
  // else is waiting. The VMM sets it before the device is attached; unit tests may leave it unset
  // and kick again themselves.
  virtual void SetRequeue(std::function<void(size_t index)> requeue) { (void)requeue; }
};

// Copies the part of `config` at [offset, offset + data.size()) that exists into data (the rest
// stays as it is: zero, as the transport passes it).
inline void ReadConfigBytes(std::span<const uint8_t> config, uint64_t offset,
                            std::span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    if (offset < config.size() && i < config.size() - offset) data[i] = config[offset + i];
  }
}

}  // namespace uvm::devices::virtio
