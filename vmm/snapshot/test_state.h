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
  return s;
}

}  // namespace uvm::vmm::snapshot
