// Puts virtio devices on a VM: device i gets the 4 KiB virtio-mmio window at
// kVirtioMmioBase + i * kVirtioMmioSize and ISA interrupt line kVirtioIrqs[i], each
// queue's QueueNotify write becomes an ioeventfd the device event loop polls, and the guest learns
// of the device from its command line (`virtio_mmio.device=4K@ADDR:IRQ`, handled by Linux's
// virtio_mmio driver with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/event_loop.h"
#include "devices/bus.h"
#include "devices/virtio/device.h"
#include "devices/virtio/mmio_transport.h"
#include "vmm/machine.h"

namespace uvm::vmm {

// ISA lines with no other user in uvm's machine (0 PIT, 1/12 i8042, 2 cascade, 4 COM1, 8 RTC):
// the MP table routes ISA IRQ n to IOAPIC pin n, so Linux can request them.
inline constexpr uint32_t kVirtioIrqs[] = {5, 6, 7, 9, 10, 11, 13, 14, 15};
inline constexpr size_t kMaxVirtioDevices = std::size(kVirtioIrqs);

struct VirtioSlot {
  std::shared_ptr<devices::virtio::MmioTransport> transport;
  std::vector<EventFd> notifies;  // one per queue, index = queue number
  std::string cmdline;            // the virtio_mmio.device= parameter for this slot
};

// Attaches `device` as slot `index`: adds its window to `mmio`, wires its interrupt and queue
// notifies, and registers the notifies with `loop`. The slot must outlive the loop's use of it,
// and `machine` must outlive the slot (the device raises its interrupt through machine.vm).
Result<std::unique_ptr<VirtioSlot>> AttachVirtioDevice(
    Machine& machine, devices::Bus::Builder& mmio, EventLoop& loop, size_t index,
    std::shared_ptr<devices::virtio::VirtioDevice> device);

}  // namespace uvm::vmm
