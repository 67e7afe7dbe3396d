#include "vmm/snapshot/vcpu_state.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <utility>

#include "vmm/snapshot/codec.h"

namespace uvm::vmm::snapshot {
namespace {

bool IsBool(uint8_t v) { return v <= 1; }

template <class T, size_t N>
bool AllZero(const T (&a)[N]) {
  return std::all_of(std::begin(a), std::end(a), [](T v) { return v == 0; });
}

Result<void> ValidateSegment(const kvm_segment& s, const char* name) {
  if (s.type > 15 || s.dpl > 3 || !IsBool(s.present) || !IsBool(s.db) || !IsBool(s.s) ||
      !IsBool(s.l) || !IsBool(s.g) || !IsBool(s.avl) || !IsBool(s.unusable) || s.padding != 0) {
    return Err(std::string("sregs: segment ") + name + " has out-of-range attributes");
  }
  return {};
}

// XSAVE area layout (Intel SDM vol. 1, 13.4): legacy region (MXCSR at byte 24), then the XSAVE
// header at byte 512: XSTATE_BV, XCOMP_BV, then reserved bytes up to 576.
constexpr size_t kMxcsrOffset = 24, kXstateBvOffset = 512, kXcompBvOffset = 520,
                 kXsaveHeaderEnd = 576;

uint64_t Load64(std::span<const uint8_t> b, size_t off) {
  uint64_t v;
  std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}

}  // namespace

Result<void> ValidateRegs(const kvm_regs& r) {
  // RFLAGS: bit 1 reads as one; bits 3, 5, 15 and 22..63 are reserved zero (SDM vol. 1, 3.4.3).
  constexpr uint64_t kReservedZero = (1ull << 3) | (1ull << 5) | (1ull << 15) | (~0ull << 22);
  if (!(r.rflags & 2) || (r.rflags & kReservedZero)) return Err("regs: RFLAGS reserved bits wrong");
  return {};
}

Result<void> ValidateSregs(const kvm_sregs& s) {
  const std::pair<const kvm_segment*, const char*> segs[] = {
      {&s.cs, "cs"}, {&s.ds, "ds"}, {&s.es, "es"}, {&s.fs, "fs"},
      {&s.gs, "gs"}, {&s.ss, "ss"}, {&s.tr, "tr"}, {&s.ldt, "ldt"}};
  for (auto [seg, name] : segs) UVM_CHECK(ValidateSegment(*seg, name));
  if (!AllZero(s.gdt.padding) || !AllZero(s.idt.padding))
    return Err("sregs: table padding not zero");
  // CR0 and CR8 are 32-bit and 4-bit registers in 64-bit mode; EFER's defined bits are SCE (0),
  // LME, LMA, NXE, SVME, LMSLE, FFXSR, TCE (8..15). KVM checks CR0/CR4/EFER combinations itself.
  if (s.cr0 >> 32) return Err("sregs: CR0 reserved bits set");
  if (s.cr8 > 15) return Err("sregs: CR8 out of range");
  if (s.efer & ~(0xff01ull)) return Err("sregs: EFER reserved bits set");
  // IA32_APIC_BASE: bits 0..7 and 9 are reserved, the base is below 2^52.
  if ((s.apic_base & 0x2ffull) || (s.apic_base >> 52))
    return Err("sregs: APIC base reserved bits set");
  // At most one pending external interrupt (KVM's ABI for interrupt_bitmap).
  int pending = 0;
  for (uint64_t w : s.interrupt_bitmap) pending += __builtin_popcountll(w);
  if (pending > 1) return Err("sregs: more than one pending interrupt");
  return {};
}

Result<void> ValidateXcrs(const kvm_xcrs& x) {
  if (x.nr_xcrs > KVM_MAX_XCRS || x.flags != 0 || !AllZero(x.padding)) {
    return Err("xcrs: count, flags or padding out of range");
  }
  bool xcr0 = false;
  for (uint32_t i = 0; i < x.nr_xcrs; ++i) {
    // XCR0 is the only extended control register (SDM vol. 1, 13.3); x87 state is always on.
    if (x.xcrs[i].xcr != 0 || x.xcrs[i].reserved != 0 || xcr0) return Err("xcrs: unknown register");
    if (!(x.xcrs[i].value & 1)) return Err("xcrs: XCR0 without x87 state");
    xcr0 = true;
  }
  return {};
}

Result<void> ValidateXsave(std::span<const uint8_t> xsave,
                           const std::vector<kvm_cpuid_entry2>& cpuid) {
  if (xsave.size() < kMinXsaveBytes || xsave.size() > kMaxXsaveBytes || xsave.size() % 64 != 0) {
    return Err("xsave: area of " + std::to_string(xsave.size()) + " bytes");
  }
  uint32_t mxcsr;
  std::memcpy(&mxcsr, xsave.data() + kMxcsrOffset, sizeof mxcsr);
  if (mxcsr >> 16) return Err("xsave: MXCSR reserved bits set");
  // KVM's uABI is the standard (non-compacted) format: XCOMP_BV zero, reserved header bytes zero.
  if (Load64(xsave, kXcompBvOffset) != 0) return Err("xsave: compacted format");
  for (size_t i = kXcompBvOffset + 8; i < kXsaveHeaderEnd; ++i) {
    if (xsave[i] != 0) return Err("xsave: reserved header bytes set");
  }
  // Components present must be ones this vCPU's CPUID offers (leaf 0xD subleaf 0, EDX:EAX; x87
  // and SSE without it): what KVM_SET_XSAVE itself accepts. Not the current XCR0: KVM reports
  // components the guest has not enabled (a vCPU that never ran has SSE state, XCR0 = x87 only).
  uint64_t supported = 3;
  for (const kvm_cpuid_entry2& e : cpuid) {
    if (e.function == 0xd && e.index == 0) supported = e.eax | (uint64_t{e.edx} << 32);
  }
  if (Load64(xsave, kXstateBvOffset) & ~(supported | 3)) {
    return Err("xsave: state components this vCPU's CPUID does not offer");
  }
  return {};
}

Result<void> ValidateDebugregs(const kvm_debugregs& d) {
  // KVM refuses flags and the upper halves of DR6/DR7 itself; refuse them here with a clearer
  // error.
  if (d.flags != 0 || !AllZero(d.reserved)) return Err("debugregs: flags or reserved words set");
  if ((d.dr6 >> 32) || (d.dr7 >> 32)) return Err("debugregs: DR6/DR7 upper bits set");
  return {};
}

Result<void> ValidateMsrs(const std::vector<kvm_msr_entry>& msrs) {
  if (msrs.size() > kMaxMsrs) return Err("msrs: " + std::to_string(msrs.size()) + " MSRs");
  std::set<uint32_t> seen;
  for (const kvm_msr_entry& m : msrs) {
    if (m.reserved != 0) return Err("msrs: reserved word set");
    if (!seen.insert(m.index).second) return Err("msrs: MSR listed twice");
  }
  return {};
}

Result<void> ValidateEvents(const kvm_vcpu_events& e) {
  constexpr uint32_t kKnownFlags = KVM_VCPUEVENT_VALID_NMI_PENDING |
                                   KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SHADOW |
                                   KVM_VCPUEVENT_VALID_SMM | KVM_VCPUEVENT_VALID_PAYLOAD |
                                   KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
  if (e.flags & ~kKnownFlags) return Err("vcpu events: unknown flags");
  // Exceptions are vectors 0..31; interrupt shadow is MOV SS (1) and/or STI (2); KVM counts at
  // most two pending NMIs (one being delivered, one latched).
  if (e.exception.nr > 31 || !IsBool(e.exception.injected) || !IsBool(e.exception.pending) ||
      !IsBool(e.exception.has_error_code) || !IsBool(e.exception_has_payload)) {
    return Err("vcpu events: exception out of range");
  }
  if (e.exception.injected && e.exception.pending)
    return Err("vcpu events: exception both injected and pending");
  if (!IsBool(e.interrupt.injected) || !IsBool(e.interrupt.soft) || e.interrupt.shadow > 3) {
    return Err("vcpu events: interrupt out of range");
  }
  if (!IsBool(e.nmi.injected) || e.nmi.pending > 2 || !IsBool(e.nmi.masked) || e.nmi.pad != 0) {
    return Err("vcpu events: NMI out of range");
  }
  if (e.sipi_vector > 0xff) return Err("vcpu events: SIPI vector out of range");
  if (!IsBool(e.smi.smm) || !IsBool(e.smi.pending) || !IsBool(e.smi.smm_inside_nmi) ||
      !IsBool(e.smi.latched_init) || !IsBool(e.triple_fault.pending) || !AllZero(e.reserved)) {
    return Err("vcpu events: SMI, triple fault or reserved bytes out of range");
  }
  return {};
}

Result<void> ValidateMpState(const kvm_mp_state& m) {
  // The x86 states: RUNNABLE, UNINITIALIZED, INIT_RECEIVED, HALTED, SIPI_RECEIVED.
  if (m.mp_state > KVM_MP_STATE_SIPI_RECEIVED) return Err("mp state out of range");
  return {};
}

Result<void> ValidateCpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  if (entries.empty() || entries.size() > kMaxCpuidEntries) {
    return Err("cpuid: " + std::to_string(entries.size()) + " entries");
  }
  std::set<std::pair<uint32_t, uint32_t>> seen;
  for (const kvm_cpuid_entry2& e : entries) {
    if (e.flags & ~uint32_t{KVM_CPUID_FLAG_SIGNIFCANT_INDEX | KVM_CPUID_FLAG_STATEFUL_FUNC |
                            KVM_CPUID_FLAG_STATE_READ_NEXT}) {
      return Err("cpuid: unknown entry flags");
    }
    if (!AllZero(e.padding)) return Err("cpuid: padding not zero");
    if (!seen.insert({e.function, e.index}).second) {
      char what[64];
      std::snprintf(what, sizeof what, "cpuid: leaf 0x%x index %u listed twice", e.function,
                    e.index);
      return Err(what);
    }
  }
  return {};
}

std::vector<uint8_t> EncodeVcpu(const VcpuState& s) {
  ByteWriter w;
  w.U32(s.index);
  w.Block(s.regs);
  w.Block(s.sregs);
  w.U32(static_cast<uint32_t>(s.xsave.size()));
  w.Bytes(s.xsave);
  w.Block(s.xcrs);
  w.Block(s.debugregs);
  w.U32(static_cast<uint32_t>(s.msrs.size()));
  for (const kvm_msr_entry& m : s.msrs) {
    w.U32(m.index);
    w.U32(m.reserved);
    w.U64(m.data);
  }
  w.Block(s.lapic);
  w.Block(s.events);
  w.U32(s.mp_state.mp_state);
  w.U32(static_cast<uint32_t>(s.cpuid.size()));
  for (const kvm_cpuid_entry2& e : s.cpuid) w.Block(e);
  return w.Take();
}

Result<VcpuState> DecodeVcpu(std::span<const uint8_t> payload) {
  ByteReader r(payload, "vcpu section");
  VcpuState s;
  UVM_TRY(s.index, r.U32());
  UVM_TRY(s.regs, r.Block<kvm_regs>("regs"));
  UVM_TRY(s.sregs, r.Block<kvm_sregs>("sregs"));
  UVM_TRY(uint32_t xsave_len, r.U32());
  if (xsave_len < kMinXsaveBytes || xsave_len > kMaxXsaveBytes) {
    return Err("vcpu: xsave area of " + std::to_string(xsave_len) + " bytes");
  }
  UVM_TRY(auto xsave, r.Bytes(xsave_len));
  s.xsave.assign(xsave.begin(), xsave.end());
  UVM_TRY(s.xcrs, r.Block<kvm_xcrs>("xcrs"));
  UVM_TRY(s.debugregs, r.Block<kvm_debugregs>("debugregs"));
  UVM_TRY(uint32_t nmsrs, r.U32());
  if (nmsrs > kMaxMsrs) return Err("vcpu: " + std::to_string(nmsrs) + " MSRs (at most 255)");
  s.msrs.resize(nmsrs);
  for (kvm_msr_entry& m : s.msrs) {
    UVM_TRY(m.index, r.U32());
    UVM_TRY(m.reserved, r.U32());
    UVM_TRY(m.data, r.U64());
  }
  // The LAPIC block must be exactly KVM's 1 KiB register page (KVM_APIC_REG_SIZE).
  UVM_TRY(s.lapic, r.Block<kvm_lapic_state>("LAPIC"));
  UVM_TRY(s.events, r.Block<kvm_vcpu_events>("vcpu events"));
  UVM_TRY(s.mp_state.mp_state, r.U32());
  UVM_TRY(uint32_t ncpuid, r.U32());
  if (ncpuid == 0 || ncpuid > kMaxCpuidEntries) {
    return Err("vcpu: " + std::to_string(ncpuid) + " CPUID entries (1..256)");
  }
  s.cpuid.resize(ncpuid);
  for (kvm_cpuid_entry2& e : s.cpuid) {
    UVM_TRY(e, r.Block<kvm_cpuid_entry2>("CPUID entry"));
  }
  UVM_CHECK(r.ExpectEnd());

  const std::string where = "vCPU " + std::to_string(s.index) + ": ";
  // One check at a time, in this order: later checks may rely on earlier ones.
  using Check = std::function<Result<void>()>;
  const Check checks[] = {[&] { return ValidateRegs(s.regs); },
                          [&] { return ValidateSregs(s.sregs); },
                          [&] { return ValidateXcrs(s.xcrs); },
                          [&] { return ValidateXsave(s.xsave, s.cpuid); },
                          [&] { return ValidateDebugregs(s.debugregs); },
                          [&] { return ValidateMsrs(s.msrs); },
                          [&] { return ValidateEvents(s.events); },
                          [&] { return ValidateMpState(s.mp_state); },
                          [&] { return ValidateCpuid(s.cpuid); }};
  for (const Check& check : checks) {
    if (auto r = check(); !r) return Err(where + r.error().message);
  }
  return s;
}

}  // namespace uvm::vmm::snapshot
