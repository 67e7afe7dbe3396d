// CPUID for a guest vCPU: what KVM_GET_SUPPORTED_CPUID offers, made consistent with the VM's shape
// (APIC ids and topology for `num_cpus` single-thread cores in one package, the hypervisor bit, no
// PMU). Pure functions over plain entries so they are unit-tested without /dev/kvm.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace uvm::vmm {

void NormalizeCpuid(std::vector<kvm_cpuid_entry2>& entries, int cpu_index, int num_cpus);

// Sets CPUID.01H:ECX.TSC_Deadline (bit 24). KVM emulates the LAPIC's TSC-deadline timer mode in
// its in-kernel LAPIC (KVM_CAP_TSC_DEADLINE_TIMER) but leaves the bit out of
// KVM_GET_SUPPORTED_CPUID: the VMM is to add it. With it Linux skips calibrating the LAPIC timer
// against the PIT (calibrate_APIC_clock waits about 100 ms of guest time) and uses deadline mode.
void EnableTscDeadline(std::vector<kvm_cpuid_entry2>& entries);

// The entry for (function, index), or nullptr.
kvm_cpuid_entry2* FindCpuid(std::vector<kvm_cpuid_entry2>& entries, uint32_t function,
                            uint32_t index = 0);

}  // namespace uvm::vmm
