// Device sections of the snapshot state file: the COM1 UART (SectionId::kSerial) and one section
// per virtio-mmio slot (SectionId::kVirtioMmio, in slot order). The state structs live with the
// devices (devices/legacy/serial.h, devices/virtio/mmio_transport_state.h); this file only encodes
// them, and decoding runs the devices' own field checks, so a decoded section holds only states a
// guest could have produced. What needs the live device or guest RAM (offered features, queue
// maxima, rings inside RAM) is checked by the devices' RestoreState().
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "devices/legacy/serial.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/mmio_transport_state.h"

namespace uvm::vmm::snapshot {

// Far above any uvm device (vmm/virtio_slots.h has 9 slots; devices have at most a few queues).
inline constexpr uint32_t kMaxVirtioSlots = 64;
inline constexpr uint32_t kMaxVirtioQueues = 256;

struct VirtioSlotState {
  uint32_t slot = 0;  // the virtio-mmio slot (vmm/virtio_slots.h), = its position in the file
  devices::virtio::MmioTransportState transport;  // records the slot's device type
};

std::vector<uint8_t> EncodeSerial(const devices::SerialState& s);
Result<devices::SerialState> DecodeSerial(std::span<const uint8_t> payload);

std::vector<uint8_t> EncodeVirtioSlot(const VirtioSlotState& s);
// Also refuses a device type uvm does not have (net, block, vsock).
Result<VirtioSlotState> DecodeVirtioSlot(std::span<const uint8_t> payload);

// Puts saved device state into a VM's devices. A different virtio layout (another slot count, or
// another device type in some slot) is refused before any device is touched; so is a VM with a
// serial port and a state without one (or the reverse).
Result<void> RestoreDevices(const std::optional<devices::SerialState>& serial_state,
                            const std::vector<VirtioSlotState>& slot_states,
                            devices::Serial* serial,
                            std::span<devices::virtio::MmioTransport* const> slots);

}  // namespace uvm::vmm::snapshot
