// vCPU register state for entering a kernel directly in 64-bit mode (Linux boot.rst, "64-bit Boot
// Protocol"): protected mode with paging, long mode active, flat __BOOT_CS/__BOOT_DS segments from
// boot/'s GDT, interrupts off, RSI -> boot_params.
#pragma once

#include <linux/kvm.h>

#include <vector>

#include "vmm/kvm.h"

namespace uvm::vmm {

struct LongModeEntry {
  uint64_t rip;
  uint64_t rsi = 0;  // boot_params for Linux
  uint64_t rsp;
  uint64_t cr3;
};

// Pure: the special registers for LongModeEntry on top of what KVM reported (unit-tested).
kvm_sregs LongModeSregs(const kvm_sregs& current, uint64_t cr3);

Result<void> SetupLongMode(Vcpu& vcpu, const LongModeEntry& entry);

// LINT0 as ExtINT (the PIC's output) and LINT1 as NMI, as firmware leaves an MP-table system.
Result<void> SetupLapicLints(Vcpu& vcpu);

// CPUID (normalised for this vCPU) and the boot MSRs.
Result<void> SetupCpuidAndMsrs(Vcpu& vcpu, std::vector<kvm_cpuid_entry2> supported, int num_cpus);

}  // namespace uvm::vmm
