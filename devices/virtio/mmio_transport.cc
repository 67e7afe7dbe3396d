#include "devices/virtio/mmio_transport.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio {
namespace {

uint64_t OfferedFeatures(const VirtioDevice& device) {
  uint64_t f = device.Features();
  uint64_t ring = f & (Bit(kFeatureIndirectDesc) | Bit(kFeatureEventIdx));
  return (f & ~kTransportFeatureMask) | ring | Bit(kFeatureVersion1);
}

std::vector<Queue> MakeQueues(const VirtioDevice& device) {
  std::vector<Queue> queues;
  for (size_t i = 0; i < device.NumQueues(); ++i) {
    // A device asking for a size that is not a power of two gets the next smaller one.
    uint16_t max = std::min<uint16_t>(device.QueueMaxSize(i), kMaxQueueSize);
    queues.emplace_back(std::bit_floor(max));
  }
  return queues;
}

void SetHalf(uint64_t& v, uint32_t sel, uint32_t value) {
  if (sel == 0) v = (v & 0xffffffff00000000ull) | value;
  if (sel == 1) v = (v & 0xffffffffull) | (uint64_t{value} << 32);
}

void SetLow(uint64_t& v, uint32_t value) { SetHalf(v, 0, value); }
void SetHigh(uint64_t& v, uint32_t value) { SetHalf(v, 1, value); }

}  // namespace

MmioTransport::MmioTransport(const GuestMemory& mem, std::shared_ptr<VirtioDevice> device, Irq irq)
    : mem_(mem),
      device_(std::move(device)),
      irq_(std::move(irq)),
      offered_features_(OfferedFeatures(*device_)),
      queues_(MakeQueues(*device_)) {}

MmioTransport::~MmioTransport() {
  std::lock_guard lock(mu_);
  if (activated_) device_->Reset();
}

void MmioTransport::Read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  size_t n = data.size();
  if (offset >= mmio::kConfig) {
    // 4.2.2.2: config fields are accessed with their natural, aligned width (8/16/32 bits).
    if ((n != 1 && n != 2 && n != 4) || offset % n != 0 || offset + n > mmio::kWindowSize) return;
    std::lock_guard lock(mu_);
    device_->ReadConfig(offset - mmio::kConfig, data);
    return;
  }
  if (n != 4 || offset % 4 != 0) return;  // 4.2.2.2: registers are 32-bit, aligned
  uint32_t v;
  if (offset == mmio::kInterruptStatus) {
    // Read by the driver's interrupt handler on every interrupt (4.2.3.4), often while the
    // device thread that raised it still holds mu_ (a queue being processed): an atomic, so the
    // vCPU does not block on that thread.
    v = interrupt_status_.load();
  } else {
    std::lock_guard lock(mu_);
    v = ReadRegister(offset);
  }
  std::memcpy(data.data(), &v, 4);
}

void MmioTransport::Write(uint64_t offset, std::span<const uint8_t> data) {
  size_t n = data.size();
  if (offset >= mmio::kConfig) {
    if ((n != 1 && n != 2 && n != 4) || offset % n != 0 || offset + n > mmio::kWindowSize) return;
    std::lock_guard lock(mu_);
    device_->WriteConfig(offset - mmio::kConfig, data);
    return;
  }
  if (n != 4 || offset % 4 != 0) return;
  uint32_t v;
  std::memcpy(&v, data.data(), 4);
  if (offset == mmio::kInterruptAck) {
    interrupt_status_.fetch_and(~v);  // the handler's acknowledgement: lock-free, as above
    return;
  }
  int64_t notify;
  {
    std::lock_guard lock(mu_);
    notify = WriteRegister(offset, v);
  }
  // Outside the lock: Notify() takes it itself.
  if (notify >= 0) Notify(static_cast<uint32_t>(notify));
}

Queue* MmioTransport::SelectedQueue() {
  return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr;
}

uint32_t MmioTransport::ReadRegister(uint64_t offset) {
  Queue* q = SelectedQueue();
  switch (offset) {
    case mmio::kMagicValue:
      return mmio::kMagic;
    case mmio::kVersion:
      return mmio::kVersion2;
    case mmio::kDeviceId:
      return device_->DeviceType();
    case mmio::kVendorId:
      return mmio::kVendor;
    case mmio::kDeviceFeatures:
      if (device_features_sel_ > 1) return 0;
      return static_cast<uint32_t>(offered_features_ >> (32 * device_features_sel_));
    case mmio::kQueueNumMax:
      return q ? q->state().max_size : 0;  // 0: the queue does not exist (4.2.2)
    case mmio::kQueueReady:
      return q && q->state().ready ? 1 : 0;
    // kInterruptStatus: read in Read(), without the lock.
    case mmio::kStatus:
      return status_ | (needs_reset_.load() ? kStatusNeedsReset : 0);
    case mmio::kConfigGeneration:
      return config_generation_.load();
    // Write-only registers and the queue address registers read as zero: Linux never reads
    // them, and exposing them adds nothing.
    default:
      return 0;
  }
}

bool MmioTransport::QueueWritable() const {
  return queue_sel_ < queues_.size() && !queues_[queue_sel_].state().ready &&
         !(status_ & kStatusDriverOk);
}

int64_t MmioTransport::WriteRegister(uint64_t offset, uint32_t value) {
  Queue* q = SelectedQueue();
  bool queue_ok = QueueWritable();
  switch (offset) {
    case mmio::kDeviceFeaturesSel:
      device_features_sel_ = value;
      break;
    case mmio::kDriverFeatures:
      if (status_ & (kStatusFeaturesOk | kStatusDriverOk)) break;  // negotiation is over
      if (driver_features_sel_ > 1) {
        driver_features_beyond_64_ |= value != 0;  // nothing up there was offered
      } else {
        SetHalf(driver_features_, driver_features_sel_, value);
      }
      break;
    case mmio::kDriverFeaturesSel:
      driver_features_sel_ = value;
      break;
    case mmio::kQueueSel:
      queue_sel_ = value;
      break;
    case mmio::kQueueNum:
      // 2.7: a split queue's size is a power of two; 4.2.2: at most QueueNumMax.
      if (queue_ok && value != 0 && value <= q->state().max_size && std::has_single_bit(value)) {
        q->state().size = static_cast<uint16_t>(value);
      }
      break;
    case mmio::kQueueReady:
      WriteQueueReady(value);
      break;
    case mmio::kQueueNotify:
      // Without VIRTIO_F_NOTIFICATION_DATA the value is just the queue index (4.2.2).
      return value;
    // kInterruptAck: handled in Write(), without the lock.
    case mmio::kStatus:
      WriteStatus(value);
      break;
    case mmio::kQueueDescLow:
      if (queue_ok) SetLow(q->state().desc_addr, value);
      break;
    case mmio::kQueueDescHigh:
      if (queue_ok) SetHigh(q->state().desc_addr, value);
      break;
    case mmio::kQueueDriverLow:
      if (queue_ok) SetLow(q->state().avail_addr, value);
      break;
    case mmio::kQueueDriverHigh:
      if (queue_ok) SetHigh(q->state().avail_addr, value);
      break;
    case mmio::kQueueDeviceLow:
      if (queue_ok) SetLow(q->state().used_addr, value);
      break;
    case mmio::kQueueDeviceHigh:
      if (queue_ok) SetHigh(q->state().used_addr, value);
      break;
    default:
      break;  // read-only or unknown: ignored
  }
  return -1;
}

void MmioTransport::WriteQueueReady(uint32_t value) {
  Queue* q = SelectedQueue();
  if (!q || (status_ & kStatusDriverOk)) return;
  if (value == 0) {
    q->state().ready = false;
    return;
  }
  if (q->state().ready) return;
  auto r = q->Enable(mem_);
  if (!r) FailLocked(Error{"queue " + std::to_string(queue_sel_) + ": " + r.error().message});
}

void MmioTransport::WriteStatus(uint32_t value) {
  if (value == 0) {
    ResetLocked();
    return;
  }
  constexpr uint32_t kDriverBits =
      kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk | kStatusFailed;
  value &= kDriverBits;          // NEEDS_RESET is the device's to set
  if (status_ & ~value) return;  // 2.1.2: the driver never clears a bit except by resetting
  uint32_t added = value & ~status_;
  uint32_t next = status_ | added;
  // 3.1.1: ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK, each only after the one before.
  if ((added & kStatusDriver) && !(next & kStatusAcknowledge)) next &= ~kStatusDriver;
  if (added & kStatusFeaturesOk) {
    uint64_t unoffered = driver_features_ & ~offered_features_;
    bool ok = (next & kStatusDriver) && unoffered == 0 && !driver_features_beyond_64_ &&
              (driver_features_ & Bit(kFeatureVersion1));
    if (ok) {
      negotiated_ = driver_features_;
    } else {
      next &= ~kStatusFeaturesOk;  // 3.1.1: the driver reads it back and gives up
    }
  }
  if ((added & kStatusDriverOk) && !(next & kStatusFeaturesOk)) next &= ~kStatusDriverOk;
  status_ = next;
  if (!(added & next & kStatusDriverOk) || (next & kStatusFailed) || needs_reset_.load()) return;

  for (Queue& q : queues_) {
    q.state().event_idx = negotiated_ & Bit(kFeatureEventIdx);
    q.state().indirect = negotiated_ & Bit(kFeatureIndirectDesc);
  }
  activated_ = true;
  auto r = device_->Activate(mem_, negotiated_, queues_, *this);
  if (!r) FailLocked(Error{"activating the device: " + r.error().message});
}

void MmioTransport::ResetLocked() {
  if (activated_) device_->Reset();
  activated_ = false;
  for (Queue& q : queues_) q.Reset();
  status_ = 0;
  device_features_sel_ = 0;
  driver_features_sel_ = 0;
  driver_features_ = 0;
  driver_features_beyond_64_ = false;
  negotiated_ = 0;
  queue_sel_ = 0;
  interrupt_status_.store(0);
  needs_reset_.store(false);
}

void MmioTransport::Notify(uint32_t queue) {
  std::lock_guard lock(mu_);
  if (!activated_ || needs_reset_.load() || !(status_ & kStatusDriverOk) ||
      queue >= queues_.size() || !queues_[queue].state().ready) {
    return;  // a kick for nothing (a hostile or confused driver): ignored
  }
  auto r = device_->ProcessQueue(queue);
  if (!r) FailLocked(Error{"queue " + std::to_string(queue) + ": " + r.error().message});
}

Result<void> MmioTransport::Quiesce() {
  std::lock_guard lock(mu_);
  if (!activated_) return {};
  return Context(device_->Quiesce(), "virtio device " + std::to_string(device_->DeviceType()) +
                                         ": quiescing for a snapshot");
}

void MmioTransport::NotifyAllQueues() {
  size_t n;
  {
    std::lock_guard lock(mu_);
    n = queues_.size();
  }
  // Notify() checks readiness and activation itself, under the lock.
  for (size_t i = 0; i < n; ++i) Notify(static_cast<uint32_t>(i));
}

void MmioTransport::FailLocked(const Error& why) { SignalNeedsReset(why); }

void MmioTransport::Raise(uint32_t bits) {
  interrupt_status_.fetch_or(bits);
  if (irq_) irq_();
}

void MmioTransport::SignalUsed() { Raise(mmio::kIntUsedBuffer); }

void MmioTransport::SignalConfigChange() {
  config_generation_.fetch_add(1);
  Raise(mmio::kIntConfigChange);
}

void MmioTransport::SignalNeedsReset(const Error& why) {
  {
    std::lock_guard lock(error_mu_);
    last_error_ = why.message;
  }
  if (log_limit_.Allow()) {
    Log(LogLevel::kWarn, "virtio-mmio device " + std::to_string(device_->DeviceType()) +
                             " needs reset: " + why.message);
  }
  // 2.1.2: the device sets DEVICE_NEEDS_RESET and, if DRIVER_OK is set, sends a configuration
  // change notification; sending it before DRIVER_OK does no harm and is simpler.
  needs_reset_.store(true);
  Raise(mmio::kIntConfigChange);
}

uint32_t MmioTransport::status() const {
  std::lock_guard lock(mu_);
  return status_ | (needs_reset_.load() ? kStatusNeedsReset : 0);
}

std::string MmioTransport::last_error() const {
  std::lock_guard lock(error_mu_);
  return last_error_;
}

}  // namespace uvm::devices::virtio
