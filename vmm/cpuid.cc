#include "vmm/cpuid.h"

namespace uvm::vmm {
namespace {

constexpr uint32_t kLeaf1HypervisorBit = 1u << 31;   // ECX: running under a hypervisor
constexpr uint32_t kLeaf1HttBit = 1u << 28;          // EDX: EBX[23:16] is valid
constexpr uint32_t kLeaf1TscDeadlineBit = 1u << 24;  // ECX: LAPIC timer TSC-deadline mode
constexpr uint32_t kTopologyLevelSmt = 1, kTopologyLevelCore = 2;

// Number of bits needed to hold ids 0..n-1 (x2APIC id shift for a level with n members).
uint32_t IdBits(int n) {
  uint32_t bits = 0;
  while ((1 << bits) < n) ++bits;
  return bits;
}

void SetBits(uint32_t& reg, int lo, int width, uint32_t value) {
  uint32_t mask = ((width == 32) ? ~0u : ((1u << width) - 1)) << lo;
  reg = (reg & ~mask) | ((value << lo) & mask);
}

}  // namespace

kvm_cpuid_entry2* FindCpuid(std::vector<kvm_cpuid_entry2>& entries, uint32_t function,
                            uint32_t index) {
  for (auto& e : entries) {
    bool indexed = e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    if (e.function == function && (!indexed || e.index == index)) return &e;
  }
  return nullptr;
}

void EnableTscDeadline(std::vector<kvm_cpuid_entry2>& entries) {
  if (kvm_cpuid_entry2* leaf1 = FindCpuid(entries, 1)) leaf1->ecx |= kLeaf1TscDeadlineBit;
}

void NormalizeCpuid(std::vector<kvm_cpuid_entry2>& entries, int cpu_index, int num_cpus) {
  const uint32_t apic_id = static_cast<uint32_t>(cpu_index);
  const uint32_t n = static_cast<uint32_t>(num_cpus);
  for (auto& e : entries) {
    switch (e.function) {
      case 0x1:
        // Intel SDM vol. 2A, CPUID leaf 01H: EBX[31:24] initial APIC id, EBX[23:16] logical
        // processors per package.
        SetBits(e.ebx, 24, 8, apic_id);
        SetBits(e.ebx, 16, 8, n);
        if (n > 1)
          e.edx |= kLeaf1HttBit;
        else
          e.edx &= ~kLeaf1HttBit;
        e.ecx |= kLeaf1HypervisorBit;
        break;
      case 0x4: {
        // Deterministic cache parameters: EAX[31:26] cores per package - 1; EAX[25:14] threads
        // sharing this cache - 1 (L1/L2 private to a core, L3 shared by the package).
        uint32_t level = (e.eax >> 5) & 0x7;
        SetBits(e.eax, 26, 6, n - 1);
        SetBits(e.eax, 14, 12, level >= 3 ? n - 1 : 0);
        break;
      }
      case 0xa:
        // No virtual PMU: zero the architectural performance monitoring leaf.
        e.eax = e.ebx = e.ecx = e.edx = 0;
        break;
      case 0xb:
      case 0x1f:
        // Extended topology: level 0 SMT (one thread per core), level 1 core (n cores),
        // then invalid levels. EDX is the x2APIC id at every level.
        e.edx = apic_id;
        if (e.index == 0) {
          e.eax = 0;
          e.ebx = 1;
          e.ecx = (kTopologyLevelSmt << 8) | 0;
        } else if (e.index == 1) {
          e.eax = IdBits(num_cpus);
          e.ebx = n;
          e.ecx = (kTopologyLevelCore << 8) | 1;
        } else {
          e.eax = e.ebx = 0;
          e.ecx = e.index & 0xff;
        }
        break;
      case 0x80000008:
        // AMD: ECX[7:0] cores per package - 1, ECX[15:12] bits of APIC id for the core.
        SetBits(e.ecx, 0, 8, n - 1);
        SetBits(e.ecx, 12, 4, IdBits(num_cpus));
        break;
      case 0x8000001e:
        // AMD extended APIC id; compute unit = core, one thread per core, node 0.
        e.eax = apic_id;
        e.ebx = apic_id & 0xff;
        e.ecx = 0;
        break;
      default:
        break;
    }
  }
}

}  // namespace uvm::vmm
