#include "vmm/virtio_slots.h"

#include <sys/epoll.h>

#include <cstdio>

#include "boot/layout.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::vmm {

Result<std::unique_ptr<VirtioSlot>> AttachVirtioDevice(
    Machine& machine, devices::Bus::Builder& mmio, EventLoop& loop, size_t index,
    std::shared_ptr<devices::virtio::VirtioDevice> device) {
  if (index >= kMaxVirtioDevices) {
    return Err("too many virtio devices (at most " + std::to_string(kMaxVirtioDevices) + ")");
  }
  const uint64_t base = boot::kVirtioMmioBase + index * boot::kVirtioMmioSize;
  const uint32_t irq = kVirtioIrqs[index];
  auto slot = std::make_unique<VirtioSlot>();
  const size_t queues = device->NumQueues();
  VirtioSlot* raw = slot.get();
  // The edge is raised by the thread that finished the work (the device loop, mostly), with
  // KVM_IRQ_LINE rather than an irqfd: for a line routed to the PIC and IOAPIC, KVM injects an
  // irqfd's edge from a kernel worker, a wakeup and two context switches per interrupt. The edge
  // is also in the irqchip when the call returns, so a snapshot saved right after Quiesce() holds
  // any interrupt the quiesce raised. It fails only if the VM itself is gone.
  // A kick the device left for later is a kick of the same queue's notify, behind what else
  // the loop has waiting.
  device->SetRequeue([raw](size_t q) {
    if (q < raw->notifies.size()) raw->notifies[q].Signal();
  });
  slot->transport = std::make_shared<devices::virtio::MmioTransport>(
      machine.memory, std::move(device), [&vm = machine.vm, irq] { (void)vm.PulseIrqLine(irq); });
  for (size_t q = 0; q < queues; ++q) {
    UVM_TRY(EventFd notify, EventFd::Create());
    // virtio-mmio 4.2.2: the driver writes the queue's index to QueueNotify (32-bit).
    UVM_CHECK(machine.vm.RegisterIoeventfd(notify.fd(), base + devices::virtio::mmio::kQueueNotify,
                                           4, static_cast<uint64_t>(q)));
    slot->notifies.push_back(std::move(notify));
  }
  for (size_t q = 0; q < queues; ++q) {
    UVM_CHECK(loop.Add(raw->notifies[q].fd(), EPOLLIN, [raw, q](uint32_t) {
      raw->notifies[q].Consume();
      raw->transport->Notify(static_cast<uint32_t>(q));
    }));
  }
  UVM_CHECK(mmio.Add(base, boot::kVirtioMmioSize, slot->transport,
                     "virtio-mmio." + std::to_string(index)));
  char param[96];
  std::snprintf(param, sizeof param, "virtio_mmio.device=4K@0x%llx:%u",
                static_cast<unsigned long long>(base), irq);
  slot->cmdline = param;
  return slot;
}

}  // namespace uvm::vmm
