// Reading and writing snapshot state through KVM's ioctls (Documentation/virt/kvm/api.rst). The
// order of the writes on restore is part of the contract: see ApplyVcpu and ARCHITECTURE.md.
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/kvm.h"
#include "vmm/snapshot/vcpu_state.h"
#include "vmm/snapshot/vm_state.h"

namespace uvm::vmm::snapshot {

// What this host's KVM saves: the XSAVE area size and the MSRs KVM lists as saveable.
struct HostState {
  uint32_t xsave_bytes = kMinXsaveBytes;
  std::vector<uint32_t> msr_indices;  // sorted
};
Result<HostState> ProbeHostState(const Kvm& kvm, const Vm& vm);

// A vCPU stopped on an I/O or MMIO exit has not finished that instruction inside KVM until the next
// KVM_RUN (api.rst, KVM_RUN: "pending operations are completed"). This runs KVM_RUN with
// immediate_exit set, which completes it without entering the guest. The caller must already have
// handled the exit (for an IN, the data is in the run area).
Result<void> CompletePendingIo(Vcpu& vcpu);

Result<VcpuState> CaptureVcpu(Vcpu& vcpu, const HostState& host);
// Checks `s` against this host (XSAVE size, MSRs KVM knows) before any write.
Result<void> CheckVcpuFitsHost(const VcpuState& s, const HostState& host);
Result<void> ApplyVcpu(Vcpu& vcpu, const VcpuState& s);

Result<VmState> CaptureVm(const Vm& vm);
// The irqchip and the PIT; the clock is separate (ApplyClock), set last, just before the vCPUs run.
Result<void> ApplyIrqchipAndPit(const Vm& vm, const VmState& s);
Result<void> ApplyClock(const Vm& vm, const kvm_clock_data& clock);

}  // namespace uvm::vmm::snapshot
