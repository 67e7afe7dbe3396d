// What a virtio-mmio transport keeps, as plain data for snapshots (MmioTransport::SaveState and
// RestoreState; vmm/snapshot/device_state.h encodes it). The device behind the transport keeps
// nothing the guest can write (its config space is read-only in uvm), so this is the whole
// guest-visible state of the slot; work a device has in flight is not part of it (a snapshot is
// taken after MmioTransport::Quiesce(), which leaves no chain outside the used ring).
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "devices/virtio/queue.h"

namespace uvm::devices::virtio {

struct MmioTransportState {
  uint32_t device_type = 0;  // DeviceID (5); a restore into another device type is refused
  uint32_t status = 0;       // the driver-written Status bits; DEVICE_NEEDS_RESET is needs_reset
  bool needs_reset = false;
  bool activated = false;  // the device was handed the queues at DRIVER_OK
  uint32_t device_features_sel = 0;
  uint32_t driver_features_sel = 0;
  uint64_t driver_features = 0;            // as the driver wrote them
  bool driver_features_beyond_64 = false;  // a non-zero DriverFeatures write with selector >= 2
  uint64_t negotiated = 0;                 // what FEATURES_OK accepted; 0 before
  uint32_t queue_sel = 0;
  uint32_t interrupt_status = 0;
  uint32_t config_generation = 0;
  std::vector<QueueState> queues;  // one per device queue, in order

  bool operator==(const MmioTransportState&) const = default;
};

// The checks that need neither the device nor guest RAM: that every field is one the register
// interface lets a driver reach (mmio_transport.h's rules). RestoreState() adds the rest (device
// type, offered features, queue maxima, rings inside guest RAM).
Result<void> ValidateMmioTransportState(const MmioTransportState& s);

}  // namespace uvm::devices::virtio
