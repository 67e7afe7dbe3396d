// virtio over MMIO, version 2 (virtio 1.2, 4.2): the register window Linux's virtio_mmio driver
// programs, wrapped around one VirtioDevice. Announced to the guest on the kernel command line as
// virtio_mmio.device=4K@ADDR:IRQ.
//
// Rules (the guest is hostile: ARCHITECTURE.md "The guest is hostile"):
// - registers below 0x100 take only aligned 32-bit accesses (4.2.2.2); others are ignored and
//   read as zero. Config space (0x100+) takes aligned 8/16/32-bit accesses.
// - FEATURES_OK is refused (reads back clear) if the driver asks for a bit that was not offered
//   or leaves out VIRTIO_F_VERSION_1 (this is a non-legacy-only device, 6.1).
// - Driver features are writable until FEATURES_OK; queue registers only while the selected queue
//   is not ready and DRIVER_OK is not set. QueueNum must be a power of two ≤ QueueNumMax.
// - Status bits are only ever added by the driver (2.1.2) and in order (3.1.1); writing 0 resets
//   the device and all queues. Writes that clear bits are ignored.
// - A queue made ready with a bad layout, a failed activation and any queue error set
//   DEVICE_NEEDS_RESET, raise a config-change interrupt and stop queue processing until reset.
//
// Locking: one mutex per transport guards the registers, the queues and every call into the
// device (register accesses from vCPU threads, Notify() from the event loop, so ProcessQueue()
// never runs concurrently with a reset or a config access). Interrupt state (InterruptStatus,
// ConfigGeneration, NEEDS_RESET) is atomic so the InterruptSink methods take no lock and devices
// may call them from anywhere, including from inside ProcessQueue().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/guest_memory.h"
#include "base/log.h"
#include "devices/bus.h"
#include "devices/virtio/device.h"
#include "devices/virtio/mmio_transport_state.h"
#include "devices/virtio/queue.h"

namespace uvm::devices::virtio {

class MmioTransport : public BusDevice, public InterruptSink {
 public:
  using Irq = std::function<void()>;  // one interrupt edge (a KVM_IRQ_LINE pulse)

  // `mem` must outlive the transport.
  MmioTransport(const GuestMemory& mem, std::shared_ptr<VirtioDevice> device, Irq irq);
  ~MmioTransport() override;  // resets an activated device so it drops its queue references

  // BusDevice: offsets within the 4 KiB window (mmio::kWindowSize).
  void Read(uint64_t offset, std::span<uint8_t> data) override;
  void Write(uint64_t offset, std::span<const uint8_t> data) override;

  // The driver kicked `queue` (today from a QueueNotify write; later from an ioeventfd on the
  // event loop). Runs the device's ProcessQueue() unless the device is not live.
  void Notify(uint32_t queue);

  // Snapshots (mmio_transport_state.h). SaveState() needs the device idle (no chain it took and
  // has not returned: that is device state the struct does not hold). RestoreState() refuses,
  // changing nothing, any state a driver could not have produced through the registers on this
  // device and this guest RAM; otherwise it resets the transport, takes the state and
  // re-activates the device if the saved one was activated (as DRIVER_OK does; if that fails the
  // device needs a reset and the error is returned). It sends no interrupt: pending ones are in
  // the restored interrupt controller.
  //
  // Quiesce() comes first (VirtioDevice::Quiesce(): vCPUs stopped, on the event loop's thread or
  // with the loop stopped): it makes an activated device idle; a device not activated has nothing
  // in flight. NotifyAllQueues() runs ProcessQueue() on every ready queue as a kick would: after
  // RestoreState() (kicks the template's driver sent and its device had not served yet are not in
  // the snapshot: an ioeventfd's count is not saved) and when a quiesced VM resumes. A kick for
  // nothing is harmless. Same thread rule as Quiesce().
  Result<void> Quiesce();
  void NotifyAllQueues();
  MmioTransportState SaveState() const;
  Result<void> RestoreState(const MmioTransportState& s);

  // InterruptSink.
  void SignalUsed() override;
  void SignalConfigChange() override;
  void SignalNeedsReset(const Error& why) override;

  // For tests and diagnostics.
  uint32_t status() const;  // as the driver reads it, NEEDS_RESET included
  uint32_t interrupt_status() const { return interrupt_status_.load(); }
  uint64_t offered_features() const { return offered_features_; }
  uint32_t device_type() const { return device_->DeviceType(); }
  std::string last_error() const;  // why NEEDS_RESET was last set; empty if never

 private:
  uint32_t ReadRegister(uint64_t offset);
  // Returns the queue to notify, or -1.
  int64_t WriteRegister(uint64_t offset, uint32_t value);
  void WriteStatus(uint32_t value);
  void WriteQueueReady(uint32_t value);
  bool QueueWritable() const;
  Queue* SelectedQueue();
  void ResetLocked();
  void FailLocked(const Error& why);
  void Raise(uint32_t bits);

  const GuestMemory& mem_;
  const std::shared_ptr<VirtioDevice> device_;
  const Irq irq_;
  const uint64_t offered_features_;

  mutable std::mutex mu_;  // see the header comment
  std::vector<Queue> queues_;
  uint32_t status_ = 0;  // driver-written bits; NEEDS_RESET lives in needs_reset_
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint64_t driver_features_ = 0;
  bool driver_features_beyond_64_ = false;  // a non-zero write to DriverFeatures with sel >= 2
  uint64_t negotiated_ = 0;
  uint32_t queue_sel_ = 0;
  bool activated_ = false;

  std::atomic<uint32_t> interrupt_status_{0};
  std::atomic<uint32_t> config_generation_{0};
  std::atomic<bool> needs_reset_{false};
  mutable std::mutex error_mu_;  // only for last_error_, so SignalNeedsReset() needs no mu_
  std::string last_error_;
  RateLimiter log_limit_{5, std::chrono::seconds(10)};  // guest-triggered warnings
};

}  // namespace uvm::devices::virtio
