// Snapshot state of the virtio-mmio transport: validation, SaveState and RestoreState. Each check
// names the register rule of mmio_transport.h (and the spec section) that makes the refused value
// unreachable for a driver, so a state file cannot put the transport where the guest could not.
#include <bit>
#include <string>

#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio {
namespace {

constexpr uint32_t kDriverStatusBits =
    kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk | kStatusFailed;

std::string QueueName(size_t i) { return "virtio-mmio state: queue " + std::to_string(i); }

Result<void> ValidateQueue(const MmioTransportState& s, size_t i) {
  const QueueState& q = s.queues[i];
  // QueueNumMax comes from the device: a power of two up to 32768 (MakeQueues()).
  if (q.max_size == 0 || q.max_size > kMaxQueueSize || !std::has_single_bit(q.max_size)) {
    return Err(QueueName(i) + ": maximum size " + std::to_string(q.max_size) + " is impossible");
  }
  // 2.7 / 4.2.2: QueueNum takes only a power of two up to QueueNumMax (reset sets the maximum).
  if (q.size == 0 || q.size > q.max_size || !std::has_single_bit(q.size)) {
    return Err(QueueName(i) + ": size " + std::to_string(q.size) + " is not a power of two in 1.." +
               std::to_string(q.max_size));
  }
  // The ring features are copied from the negotiated ones into every queue at activation.
  const bool event_idx = s.activated && (s.negotiated & Bit(kFeatureEventIdx));
  const bool indirect = s.activated && (s.negotiated & Bit(kFeatureIndirectDesc));
  if (q.event_idx != event_idx || q.indirect != indirect) {
    return Err(QueueName(i) + ": ring features differ from the negotiated ones");
  }
  // Only an activated device moves the indices of a ready queue (Notify()), and only a reset,
  // which zeroes them, ends either. In between the device holds at most `size` chains it took
  // from the avail ring and has not returned: next_used trails next_avail by at most `size`.
  if (!(s.activated && q.ready)) {
    if (q.next_avail != 0 || q.next_used != 0) {
      return Err(QueueName(i) + ": indices moved on a queue the device never used");
    }
    return {};
  }
  const uint16_t in_flight = static_cast<uint16_t>(q.next_avail - q.next_used);
  if (in_flight > q.size) {
    return Err(QueueName(i) + ": used index " + std::to_string(q.next_used) +
               " is not within the queue size behind the available index " +
               std::to_string(q.next_avail));
  }
  return {};
}

}  // namespace

Result<void> ValidateMmioTransportState(const MmioTransportState& s) {
  if (s.status & ~kDriverStatusBits) {
    return Err("virtio-mmio state: status has bits no driver can set");
  }
  // 3.1.1 and WriteStatus(): DRIVER only after ACKNOWLEDGE, FEATURES_OK only after DRIVER,
  // DRIVER_OK only after FEATURES_OK.
  const bool ack = s.status & kStatusAcknowledge, driver = s.status & kStatusDriver;
  const bool features_ok = s.status & kStatusFeaturesOk, driver_ok = s.status & kStatusDriverOk;
  if ((driver && !ack) || (features_ok && !driver) || (driver_ok && !features_ok)) {
    return Err("virtio-mmio state: status " + std::to_string(s.status) +
               " is not a sequence a driver can reach (3.1.1)");
  }
  // FEATURES_OK is accepted only with VERSION_1 and nothing beyond bit 63, and then freezes the
  // driver features as the negotiated ones; before it nothing is negotiated.
  if (features_ok) {
    if (s.negotiated != s.driver_features || !(s.negotiated & Bit(kFeatureVersion1)) ||
        s.driver_features_beyond_64) {
      return Err("virtio-mmio state: negotiated features are not what FEATURES_OK accepts");
    }
  } else if (s.negotiated != 0) {
    return Err("virtio-mmio state: features negotiated without FEATURES_OK");
  }
  // The device is activated when DRIVER_OK is added, unless FAILED or NEEDS_RESET is set then.
  if (s.activated && !driver_ok) return Err("virtio-mmio state: activated without DRIVER_OK");
  if (driver_ok && !s.activated && !(s.status & kStatusFailed) && !s.needs_reset) {
    return Err("virtio-mmio state: DRIVER_OK set but the device was not activated");
  }
  if (s.interrupt_status & ~(mmio::kIntUsedBuffer | mmio::kIntConfigChange)) {
    return Err("virtio-mmio state: unknown interrupt status bits");
  }
  for (size_t i = 0; i < s.queues.size(); ++i) UVM_CHECK(ValidateQueue(s, i));
  return {};
}

MmioTransportState MmioTransport::SaveState() const {
  std::lock_guard lock(mu_);
  MmioTransportState s;
  s.device_type = device_->DeviceType();
  s.status = status_;
  s.needs_reset = needs_reset_.load();
  s.activated = activated_;
  s.device_features_sel = device_features_sel_;
  s.driver_features_sel = driver_features_sel_;
  s.driver_features = driver_features_;
  s.driver_features_beyond_64 = driver_features_beyond_64_;
  s.negotiated = negotiated_;
  s.queue_sel = queue_sel_;
  s.interrupt_status = interrupt_status_.load();
  s.config_generation = config_generation_.load();
  for (const Queue& q : queues_) s.queues.push_back(q.state());
  return s;
}

Result<void> MmioTransport::RestoreState(const MmioTransportState& s) {
  UVM_CHECK(ValidateMmioTransportState(s));
  if (s.device_type != device_->DeviceType()) {
    return Err("virtio-mmio state: saved device type " + std::to_string(s.device_type) +
               ", this slot holds device type " + std::to_string(device_->DeviceType()));
  }
  std::lock_guard lock(mu_);
  if (s.queues.size() != queues_.size()) {
    return Err("virtio-mmio state: " + std::to_string(s.queues.size()) +
               " queues, the device has " + std::to_string(queues_.size()));
  }
  // FEATURES_OK refuses a feature that was not offered (3.1.1).
  if (s.negotiated & ~offered_features_) {
    return Err("virtio-mmio state: negotiated features the device does not offer");
  }
  for (size_t i = 0; i < s.queues.size(); ++i) {
    if (s.queues[i].max_size != queues_[i].state().max_size) {
      return Err(QueueName(i) + ": maximum size differs from the device's");
    }
    // A queue is ready only if Enable() accepted its layout.
    if (s.queues[i].ready) {
      UVM_CHECK(Context(Queue::ValidateLayout(s.queues[i], mem_), QueueName(i)));
    }
  }

  ResetLocked();
  status_ = s.status;
  device_features_sel_ = s.device_features_sel;
  driver_features_sel_ = s.driver_features_sel;
  driver_features_ = s.driver_features;
  driver_features_beyond_64_ = s.driver_features_beyond_64;
  negotiated_ = s.negotiated;
  queue_sel_ = s.queue_sel;
  for (size_t i = 0; i < queues_.size(); ++i) queues_[i].state() = s.queues[i];
  interrupt_status_.store(s.interrupt_status);
  config_generation_.store(s.config_generation);
  if (s.needs_reset) {
    std::lock_guard error_lock(error_mu_);
    last_error_ = "needed a reset when the snapshot was taken";
  }
  needs_reset_.store(s.needs_reset);
  if (s.activated) {
    activated_ = true;
    auto r = device_->Activate(mem_, negotiated_, queues_, *this);
    if (!r) {
      // As at DRIVER_OK the device needs a reset; the caller also learns, since a backend that
      // worked when the snapshot was taken and fails now is a host problem.
      Error e{"virtio-mmio state: activating the restored device: " + r.error().message};
      FailLocked(e);
      return tl::unexpected(e);
    }
  }
  return {};
}

}  // namespace uvm::devices::virtio
