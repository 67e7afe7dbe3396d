#include "vmm/cpu_setup.h"

#include <cstring>

#include "boot/cpu_tables.h"
#include "boot/layout.h"
#include "vmm/cpuid.h"
#include "vmm/msrs.h"

namespace uvm::vmm {
namespace {

constexpr uint64_t kCr0Pe = 1, kCr0Mp = 1 << 1, kCr0Et = 1 << 4, kCr0Ne = 1 << 5,
                   kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1 << 5;
constexpr uint64_t kEferLme = 1 << 8, kEferLma = 1 << 10;

kvm_segment ToKvm(const boot::SegmentDesc& d) {
  kvm_segment s{};
  s.base = d.base;
  s.limit = d.limit;
  s.selector = d.selector;
  s.type = d.type;
  s.present = d.present;
  s.dpl = d.dpl;
  s.db = d.db;
  s.s = d.s;
  s.l = d.l;
  s.g = d.g;
  s.avl = d.avl;
  return s;
}

// Local APIC register offsets and LVT delivery modes (Intel SDM vol. 3, "Local Vector Table").
constexpr size_t kApicLvtLint0 = 0x350, kApicLvtLint1 = 0x360;
constexpr uint32_t kDeliveryModeExtInt = 7u << 8, kDeliveryModeNmi = 4u << 8;

uint32_t GetApicReg(const kvm_lapic_state& s, size_t off) {
  uint32_t v;
  std::memcpy(&v, s.regs + off, sizeof v);
  return v;
}
void SetApicReg(kvm_lapic_state& s, size_t off, uint32_t v) {
  std::memcpy(s.regs + off, &v, sizeof v);
}

}  // namespace

kvm_sregs LongModeSregs(const kvm_sregs& current, uint64_t cr3) {
  kvm_sregs s = current;
  s.cs = ToKvm(boot::BootSegment(boot::kBootCodeSelector));
  kvm_segment data = ToKvm(boot::BootSegment(boot::kBootDataSelector));
  s.ds = s.es = s.fs = s.gs = s.ss = data;
  s.gdt.base = boot::kGdtAddr;
  s.gdt.limit = boot::kGdtLimit;
  s.idt.base = boot::kIdtAddr;
  s.idt.limit = boot::kIdtLimit;
  s.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Pg;
  s.cr3 = cr3;
  s.cr4 = kCr4Pae;
  s.efer = kEferLme | kEferLma;
  return s;
}

Result<void> SetupLongMode(Vcpu& vcpu, const LongModeEntry& entry) {
  UVM_TRY(kvm_sregs current, vcpu.GetSregs());
  UVM_CHECK(vcpu.SetSregs(LongModeSregs(current, entry.cr3)));
  kvm_regs regs{};
  regs.rflags = 0x2;  // bit 1 is reserved-one; IF clear
  regs.rip = entry.rip;
  regs.rsp = regs.rbp = entry.rsp;
  regs.rsi = entry.rsi;
  UVM_CHECK(vcpu.SetRegs(regs));
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;     // x87 default control word (FNINIT)
  fpu.mxcsr = 0x1f80;  // SSE: all exceptions masked
  return vcpu.SetFpu(fpu);
}

Result<void> SetupLapicLints(Vcpu& vcpu) {
  UVM_TRY(kvm_lapic_state lapic, vcpu.GetLapic());
  SetApicReg(lapic, kApicLvtLint0,
             (GetApicReg(lapic, kApicLvtLint0) & ~0x700u) | kDeliveryModeExtInt);
  SetApicReg(lapic, kApicLvtLint1, (GetApicReg(lapic, kApicLvtLint1) & ~0x700u) | kDeliveryModeNmi);
  return vcpu.SetLapic(lapic);
}

Result<void> SetupCpuidAndMsrs(Vcpu& vcpu, std::vector<kvm_cpuid_entry2> supported, int num_cpus) {
  NormalizeCpuid(supported, vcpu.index(), num_cpus);
  UVM_CHECK(vcpu.SetCpuid(supported));
  return vcpu.SetMsrs(BootMsrs());
}

}  // namespace uvm::vmm
