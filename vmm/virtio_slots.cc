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
  UVM_TRY(slot->irq, EventFd::Create());
  UVM_CHECK(machine.vm.RegisterIrqfd(slot->irq.fd(), irq));
  const size_t queues = device->NumQueues();
  VirtioSlot* raw = slot.get();
  slot->transport = std::make_shared<devices::virtio::MmioTransport>(
      machine.memory, std::move(device), [raw] { raw->irq.Signal(); });
  for (size_t q = 0; q < queues; ++q) {
    UVM_TRY(EventFd notify, EventFd::Create());
    // virtio-mmio 4.2.2: the driver writes the queue's index to QueueNotify (32-bit).
    UVM_CHECK(machine.vm.RegisterIoeventfd(notify.fd(), base + devices::virtio::mmio::kQueueNotify, 4,
                                           static_cast<uint64_t>(q)));
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
