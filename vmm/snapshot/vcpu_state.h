// One vCPU's snapshot state: everything KVM holds for it (Intel SDM vol. 3 architectural state
// plus KVM's pending-event and multiprocessor state), as the KVM ioctls report it. The section
// payload and the field validation of a decoded section live here; the ioctls in kvm_state.h.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"

namespace uvm::vmm::snapshot {

// KVM refuses KVM_SET_MSRS batches of 256 or more (MAX_IO_MSRS) and KVM_SET_CPUID2 beyond 256
// entries (KVM_MAX_CPUID_ENTRIES): a state file cannot hold more.
inline constexpr uint32_t kMaxMsrs = 255;
inline constexpr uint32_t kMaxCpuidEntries = 256;
// KVM_GET_XSAVE is 4096 bytes; KVM_GET_XSAVE2 is larger only with dynamic features (AMX: ~11 KiB).
inline constexpr uint32_t kMinXsaveBytes = 4096;
inline constexpr uint32_t kMaxXsaveBytes = 64 * 1024;

struct VcpuState {
  uint32_t index = 0;
  kvm_regs regs{};
  kvm_sregs sregs{};
  std::vector<uint8_t> xsave;  // KVM_GET_XSAVE(2): the x87/SSE/AVX... state in XSAVE layout
  kvm_xcrs xcrs{};
  kvm_debugregs debugregs{};
  std::vector<kvm_msr_entry> msrs;
  kvm_lapic_state lapic{};
  kvm_vcpu_events events{};
  kvm_mp_state mp_state{};
  std::vector<kvm_cpuid_entry2> cpuid;  // as set with KVM_SET_CPUID2 (read back with GET_CPUID2)
};

std::vector<uint8_t> EncodeVcpu(const VcpuState& s);
Result<VcpuState> DecodeVcpu(std::span<const uint8_t> payload);

// Field checks, exposed for the unit tests. Each returns a one-line error naming the field.
Result<void> ValidateRegs(const kvm_regs& r);
Result<void> ValidateSregs(const kvm_sregs& s);
Result<void> ValidateXsave(std::span<const uint8_t> xsave,
                           const std::vector<kvm_cpuid_entry2>& cpuid);
Result<void> ValidateXcrs(const kvm_xcrs& x);
Result<void> ValidateDebugregs(const kvm_debugregs& d);
Result<void> ValidateMsrs(const std::vector<kvm_msr_entry>& msrs);
Result<void> ValidateEvents(const kvm_vcpu_events& e);
Result<void> ValidateMpState(const kvm_mp_state& m);
Result<void> ValidateCpuid(const std::vector<kvm_cpuid_entry2>& entries);

}  // namespace uvm::vmm::snapshot
