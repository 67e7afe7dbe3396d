#include "vmm/snapshot/device_state.h"

#include <string>

#include "devices/virtio/virtio_spec.h"
#include "vmm/snapshot/codec.h"

namespace uvm::vmm::snapshot {
namespace {

namespace virtio = devices::virtio;

bool KnownDeviceType(uint32_t type) {
  return type == virtio::kDeviceIdNet || type == virtio::kDeviceIdBlock ||
         type == virtio::kDeviceIdVsock || type == virtio::kDeviceIdFs;
}

void EncodeQueue(ByteWriter& w, const virtio::QueueState& q) {
  w.U16(q.size);
  w.U16(q.max_size);
  w.U8(q.ready);
  w.U64(q.desc_addr);
  w.U64(q.avail_addr);
  w.U64(q.used_addr);
  w.U16(q.next_avail);
  w.U16(q.next_used);
  w.U8(q.event_idx);
  w.U8(q.indirect);
}

Result<virtio::QueueState> DecodeQueue(ByteReader& r) {
  virtio::QueueState q;
  UVM_TRY(q.size, r.U16());
  UVM_TRY(q.max_size, r.U16());
  UVM_TRY(q.ready, r.Bool("queue ready"));
  UVM_TRY(q.desc_addr, r.U64());
  UVM_TRY(q.avail_addr, r.U64());
  UVM_TRY(q.used_addr, r.U64());
  UVM_TRY(q.next_avail, r.U16());
  UVM_TRY(q.next_used, r.U16());
  UVM_TRY(q.event_idx, r.Bool("queue event_idx"));
  UVM_TRY(q.indirect, r.Bool("queue indirect"));
  return q;
}

}  // namespace

std::vector<uint8_t> EncodeSerial(const devices::SerialState& s) {
  ByteWriter w;
  for (uint8_t reg : {s.ier, s.lcr, s.mcr, s.scr, s.dll, s.dlm}) w.U8(reg);
  w.U8(s.fifo_enabled);
  w.U8(s.thre_pending);
  w.U32(static_cast<uint32_t>(s.rx.size()));
  w.Bytes(s.rx);
  return w.Take();
}

Result<devices::SerialState> DecodeSerial(std::span<const uint8_t> payload) {
  ByteReader r(payload, "serial section");
  devices::SerialState s;
  for (uint8_t* reg : {&s.ier, &s.lcr, &s.mcr, &s.scr, &s.dll, &s.dlm}) {
    UVM_TRY(*reg, r.U8());
  }
  UVM_TRY(s.fifo_enabled, r.Bool("FIFO enable"));
  UVM_TRY(s.thre_pending, r.Bool("THR-empty interrupt"));
  UVM_TRY(uint32_t count, r.U32());
  // Checked before reading, so a huge count is an error rather than an allocation.
  if (count > devices::Serial::kRxCapacity) {
    return Err("serial section: " + std::to_string(count) + " received bytes, the FIFO holds " +
               std::to_string(devices::Serial::kRxCapacity));
  }
  UVM_TRY(auto rx, r.Bytes(count));
  s.rx.assign(rx.begin(), rx.end());
  UVM_CHECK(r.ExpectEnd());
  UVM_CHECK(devices::Serial::ValidateState(s));
  return s;
}

std::vector<uint8_t> EncodeVirtioSlot(const VirtioSlotState& slot) {
  const virtio::MmioTransportState& s = slot.transport;
  ByteWriter w;
  w.U32(slot.slot);
  w.U32(s.device_type);
  w.U32(s.status);
  w.U8(s.needs_reset);
  w.U8(s.activated);
  w.U32(s.device_features_sel);
  w.U32(s.driver_features_sel);
  w.U64(s.driver_features);
  w.U8(s.driver_features_beyond_64);
  w.U64(s.negotiated);
  w.U32(s.queue_sel);
  w.U32(s.interrupt_status);
  w.U32(s.config_generation);
  w.U32(static_cast<uint32_t>(s.queues.size()));
  for (const virtio::QueueState& q : s.queues) EncodeQueue(w, q);
  return w.Take();
}

Result<VirtioSlotState> DecodeVirtioSlot(std::span<const uint8_t> payload) {
  ByteReader r(payload, "virtio-mmio section");
  VirtioSlotState slot;
  virtio::MmioTransportState& s = slot.transport;
  UVM_TRY(slot.slot, r.U32());
  if (slot.slot >= kMaxVirtioSlots) {
    return Err("virtio-mmio section: slot " + std::to_string(slot.slot) + " does not exist");
  }
  UVM_TRY(s.device_type, r.U32());
  if (!KnownDeviceType(s.device_type)) {
    return Err("virtio-mmio section: unknown device type " + std::to_string(s.device_type));
  }
  UVM_TRY(s.status, r.U32());
  UVM_TRY(s.needs_reset, r.Bool("needs_reset"));
  UVM_TRY(s.activated, r.Bool("activated"));
  UVM_TRY(s.device_features_sel, r.U32());
  UVM_TRY(s.driver_features_sel, r.U32());
  UVM_TRY(s.driver_features, r.U64());
  UVM_TRY(s.driver_features_beyond_64, r.Bool("driver_features_beyond_64"));
  UVM_TRY(s.negotiated, r.U64());
  UVM_TRY(s.queue_sel, r.U32());
  UVM_TRY(s.interrupt_status, r.U32());
  UVM_TRY(s.config_generation, r.U32());
  UVM_TRY(uint32_t count, r.U32());
  if (count == 0 || count > kMaxVirtioQueues) {
    return Err("virtio-mmio section: " + std::to_string(count) + " queues");
  }
  for (uint32_t i = 0; i < count; ++i) {
    UVM_TRY(virtio::QueueState q, DecodeQueue(r));
    s.queues.push_back(q);
  }
  UVM_CHECK(r.ExpectEnd());
  UVM_CHECK(Context(virtio::ValidateMmioTransportState(s), "slot " + std::to_string(slot.slot)));
  return slot;
}

Result<void> RestoreDevices(const std::optional<devices::SerialState>& serial_state,
                            const std::vector<VirtioSlotState>& slot_states,
                            devices::Serial* serial,
                            std::span<virtio::MmioTransport* const> slots) {
  if (serial_state.has_value() != (serial != nullptr)) {
    return Err(serial ? "the snapshot has no serial port state"
                      : "the snapshot has serial port state but this VM has no serial port");
  }
  if (slot_states.size() != slots.size()) {
    return Err("the snapshot has " + std::to_string(slot_states.size()) +
               " virtio devices, this VM has " + std::to_string(slots.size()));
  }
  for (size_t i = 0; i < slots.size(); ++i) {
    const uint32_t saved = slot_states[i].transport.device_type, here = slots[i]->device_type();
    if (saved != here) {
      return Err("virtio slot " + std::to_string(i) + ": the snapshot has device type " +
                 std::to_string(saved) + ", this VM has " + std::to_string(here));
    }
  }
  // The serial state needs no device to check: checked here so a refusal comes before any
  // transport is restored.
  if (serial_state) UVM_CHECK(devices::Serial::ValidateState(*serial_state));
  for (size_t i = 0; i < slots.size(); ++i) {
    UVM_CHECK(Context(slots[i]->RestoreState(slot_states[i].transport),
                      "virtio slot " + std::to_string(i)));
  }
  if (serial) UVM_CHECK(serial->RestoreState(*serial_state));
  return {};
}

}  // namespace uvm::vmm::snapshot
