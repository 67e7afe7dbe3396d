// A valid SnapshotState built without KVM, for the unit tests and the fuzz target's seed.
#pragma once

#include "vmm/snapshot/snapshot.h"

namespace uvm::vmm::snapshot {

inline SnapshotState ValidTestState(uint32_t vcpus = 2) {
  SnapshotState s;
  s.machine.vcpus = vcpus;
  s.machine.regions = {{0, 64ull << 20}, {0x100000000ull, 2ull << 20}};
  s.vm.clock.clock = 123456789;
  s.vm.pic_master.irq_base = 0x20;
  s.vm.pic_slave.irq_base = 0x28;
  s.vm.ioapic.base_address = 0xfec00000;
  s.vm.pit.channels[0].count = 0x10000;
  s.vm.pit.channels[0].mode = 2;
  s.vm.pit.channels[0].rw_mode = 3;
  for (uint32_t i = 0; i < vcpus; ++i) {
    VcpuState v;
    v.index = i;
    v.regs.rflags = 2;
    v.regs.rip = 0x10000 + i;
    v.sregs.cr0 = 0x80000011;
    v.sregs.efer = 0x500;
    v.sregs.apic_base = 0xfee00900;
    v.xsave.assign(kMinXsaveBytes, 0);
    v.xsave[24] = 0x80;  // MXCSR 0x1f80
    v.xsave[25] = 0x1f;
    v.xcrs.nr_xcrs = 1;
    v.xcrs.xcrs[0] = {0, 0, 3};
    v.msrs = {{0x10, 0, 42}, {0x174, 0, 0}};
    v.lapic.regs[0x20 + 3] = static_cast<char>(i);
    v.mp_state.mp_state = i == 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED;
    kvm_cpuid_entry2 leaf0{};
    leaf0.eax = 0xd;
    kvm_cpuid_entry2 leaf1{};
    leaf1.function = 1;
    kvm_cpuid_entry2 leaf_d{};  // XSAVE components: x87, SSE
    leaf_d.function = 0xd;
    leaf_d.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    leaf_d.eax = 3;
    v.cpuid = {leaf0, leaf1, leaf_d};
    s.vcpus.push_back(v);
  }
  devices::SerialState serial;
  serial.ier = 0x03;
  serial.lcr = 0x03;
  serial.mcr = 0x0b;
  serial.fifo_enabled = true;
  serial.rx = {'l', 's', '\n'};
  s.serial = serial;
  // A block device after some requests: one queue of 256, FLUSH, EVENT_IDX and VERSION_1.
  VirtioSlotState blk;
  blk.transport.device_type = 2;
  blk.transport.status = 1 | 2 | 8 | 4;  // ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK
  blk.transport.activated = true;
  blk.transport.driver_features = blk.transport.negotiated = (1ull << 32) | (1ull << 29) | 0x200;
  blk.transport.interrupt_status = 1;
  blk.transport.config_generation = 1;
  devices::virtio::QueueState q;
  q.size = q.max_size = 256;
  q.ready = true;
  q.desc_addr = 0x10000;
  q.avail_addr = 0x11000;
  q.used_addr = 0x12000;
  q.next_avail = 5;
  q.next_used = 3;
  q.event_idx = true;
  blk.transport.queues = {q};
  s.virtio = {blk};
  return s;
}

}  // namespace uvm::vmm::snapshot
