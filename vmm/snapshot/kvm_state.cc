#include "vmm/snapshot/kvm_state.h"

#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "vmm/kvm_ioctl.h"

namespace uvm::vmm::snapshot {
namespace {

// C-layout headers for the variable-length structs (see the note in vmm/kvm.cc: Debian 12's
// <linux/kvm.h> gives them a different size in C++, and the size is part of the ioctl number).
struct MsrsHeader {
  uint32_t nmsrs;
  uint32_t pad;
};
struct CpuidHeader {
  uint32_t nent;
  uint32_t padding;
};
struct XsaveRegion {
  uint32_t region[1024];
};
constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
constexpr unsigned long kGetCpuid2 = _IOWR(KVMIO, 0x91, CpuidHeader);
constexpr unsigned long kGetXsave = _IOR(KVMIO, 0xa4, XsaveRegion);
constexpr unsigned long kSetXsave = _IOW(KVMIO, 0xa5, XsaveRegion);
constexpr unsigned long kGetXsave2 = _IOR(KVMIO, 0xcf, XsaveRegion);

using kvm_ioctl::GetStruct;
using kvm_ioctl::Ioctl;
using kvm_ioctl::SetStruct;

using kvm_ioctl::VarBuffer;

// KVM_GET_MSRS reads entries in order and stops at the first it cannot read; the count it returns
// says where. An MSR that KVM lists but cannot read for this vCPU (a feature the CPUID hides) is
// dropped, and the rest read again.
Result<std::vector<kvm_msr_entry>> ReadMsrs(int fd, std::vector<uint32_t> indices) {
  std::vector<kvm_msr_entry> out;
  while (!indices.empty()) {
    const size_t n = std::min<size_t>(indices.size(), kMaxMsrs);
    VarBuffer<MsrsHeader, kvm_msr_entry> buf(n);
    buf.header()->nmsrs = static_cast<uint32_t>(n);
    buf.header()->pad = 0;
    for (size_t i = 0; i < n; ++i) buf.entries()[i] = kvm_msr_entry{indices[i], 0, 0};
    int got = Ioctl(fd, kGetMsrs, buf.header());
    if (got < 0) return ErrnoErr("KVM_GET_MSRS");
    out.insert(out.end(), buf.entries(), buf.entries() + got);
    const size_t skip = static_cast<size_t>(got) < n ? static_cast<size_t>(got) + 1 : n;
    indices.erase(indices.begin(), indices.begin() + static_cast<long>(skip));
  }
  return out;
}

Result<std::vector<kvm_cpuid_entry2>> ReadCpuid(int fd) {
  VarBuffer<CpuidHeader, kvm_cpuid_entry2> buf(kMaxCpuidEntries);
  buf.header()->nent = kMaxCpuidEntries;
  buf.header()->padding = 0;
  // Linux 6.1 (arch/x86/kvm/cpuid.c, kvm_vcpu_ioctl_get_cpuid2) copies the entries but leaves
  // `nent` as the caller gave it on success, so the count is where the kernel stopped writing:
  // every entry starts as all-ones, which no real entry is (its padding is zero).
  std::memset(buf.entries(), 0xff, kMaxCpuidEntries * sizeof(kvm_cpuid_entry2));
  if (Ioctl(fd, kGetCpuid2, buf.header()) < 0) return ErrnoErr("KVM_GET_CPUID2");
  size_t n = std::min<size_t>(buf.header()->nent, kMaxCpuidEntries);
  for (size_t i = 0; i < n; ++i) {
    if (buf.entries()[i].padding[0] == 0xffffffffu) {
      n = i;
      break;
    }
  }
  return std::vector<kvm_cpuid_entry2>(buf.entries(), buf.entries() + n);
}

std::string Hex(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%x", v);
  return b;
}

}  // namespace

Result<HostState> ProbeHostState(const Kvm& kvm, const Vm& vm) {
  if (kvm.CheckExtension(KVM_CAP_XSAVE) <= 0 || kvm.CheckExtension(KVM_CAP_XCRS) <= 0 ||
      kvm.CheckExtension(KVM_CAP_VCPU_EVENTS) <= 0 || kvm.CheckExtension(KVM_CAP_DEBUGREGS) <= 0 ||
      kvm.CheckExtension(KVM_CAP_MP_STATE) <= 0 || kvm.CheckExtension(KVM_CAP_ADJUST_CLOCK) <= 0) {
    return Err(
        "KVM lacks a capability snapshots need (XSAVE, XCRS, VCPU_EVENTS, DEBUGREGS, "
        "MP_STATE, ADJUST_CLOCK)");
  }
  HostState host;
  // KVM_CAP_XSAVE2 on the VM fd gives the size KVM_GET_XSAVE2 writes (api.rst 4.42); 0 where the
  // kernel predates it, and then KVM_GET_XSAVE's 4096 bytes are the whole state.
  int xsave2 = Ioctl(vm.fd(), KVM_CHECK_EXTENSION, reinterpret_cast<void*>(long{KVM_CAP_XSAVE2}));
  if (xsave2 > static_cast<int>(kMinXsaveBytes)) {
    if (xsave2 > static_cast<int>(kMaxXsaveBytes)) return Err("KVM's XSAVE area is too large");
    host.xsave_bytes = static_cast<uint32_t>(xsave2);
  }
  UVM_TRY(host.msr_indices, kvm.MsrIndexList());
  std::sort(host.msr_indices.begin(), host.msr_indices.end());
  host.msr_indices.erase(std::unique(host.msr_indices.begin(), host.msr_indices.end()),
                         host.msr_indices.end());
  return host;
}

Result<void> CompletePendingIo(Vcpu& vcpu) {
  kvm_run* run = vcpu.run_state();
  __atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
  int r = ::ioctl(vcpu.fd(), KVM_RUN, nullptr);
  int err = errno;
  __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
  if (r == 0) return Err("KVM_RUN with immediate_exit entered the guest");
  if (err != EINTR) return ErrnoErr("KVM_RUN (completing pending I/O)", err);
  return {};
}

Result<VcpuState> CaptureVcpu(Vcpu& vcpu, const HostState& host) {
  const int fd = vcpu.fd();
  VcpuState s;
  s.index = static_cast<uint32_t>(vcpu.index());
  UVM_TRY(s.regs, vcpu.GetRegs());
  UVM_TRY(s.sregs, vcpu.GetSregs());
  s.xsave.assign(host.xsave_bytes, 0);
  const unsigned long get_xsave = host.xsave_bytes > kMinXsaveBytes ? kGetXsave2 : kGetXsave;
  if (Ioctl(fd, get_xsave, s.xsave.data()) < 0) return ErrnoErr("KVM_GET_XSAVE");
  UVM_TRY(s.xcrs, GetStruct<kvm_xcrs>(fd, KVM_GET_XCRS, "KVM_GET_XCRS"));
  UVM_TRY(s.debugregs, GetStruct<kvm_debugregs>(fd, KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS"));
  UVM_TRY(s.msrs, ReadMsrs(fd, host.msr_indices));
  UVM_TRY(s.lapic, vcpu.GetLapic());
  UVM_TRY(s.events, GetStruct<kvm_vcpu_events>(fd, KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS"));
  UVM_TRY(s.mp_state, GetStruct<kvm_mp_state>(fd, KVM_GET_MP_STATE, "KVM_GET_MP_STATE"));
  UVM_TRY(s.cpuid, ReadCpuid(fd));
  return s;
}

Result<void> CheckVcpuFitsHost(const VcpuState& s, const HostState& host) {
  const std::string where = "vCPU " + std::to_string(s.index) + ": ";
  if (s.xsave.size() != host.xsave_bytes) {
    return Err(where + "XSAVE area of " + std::to_string(s.xsave.size()) +
               " bytes, this host's KVM uses " + std::to_string(host.xsave_bytes) +
               " (snapshot from another host?)");
  }
  for (const kvm_msr_entry& m : s.msrs) {
    if (!std::binary_search(host.msr_indices.begin(), host.msr_indices.end(), m.index)) {
      return Err(where + "MSR " + Hex(m.index) + " is not one this host's KVM saves");
    }
  }
  return {};
}

Result<void> ApplyVcpu(Vcpu& vcpu, const VcpuState& s) {
  const int fd = vcpu.fd();
  // CPUID first: KVM derives what the other state may contain from it (XCR0 and XSAVE components,
  // which MSRs exist, the MAXPHYADDR that bounds CR3 and the APIC base).
  UVM_CHECK(vcpu.SetCpuid(s.cpuid));
  // Special registers before the LAPIC: SET_SREGS writes IA32_APIC_BASE, which enables or resets
  // the LAPIC; the LAPIC registers written after it are then kept.
  UVM_CHECK(vcpu.SetSregs(s.sregs));
  UVM_CHECK(vcpu.SetRegs(s.regs));
  // XCR0 before the XSAVE area, so the area's components are enabled when KVM checks them.
  UVM_CHECK(SetStruct(fd, KVM_SET_XCRS, s.xcrs, "KVM_SET_XCRS"));
  if (Ioctl(fd, kSetXsave, s.xsave.data()) < 0) return ErrnoErr("KVM_SET_XSAVE");
  UVM_CHECK(SetStruct(fd, KVM_SET_DEBUGREGS, s.debugregs, "KVM_SET_DEBUGREGS"));
  UVM_CHECK(vcpu.SetLapic(s.lapic));
  // MSRs after the LAPIC: IA32_TSC_DEADLINE only holds once the LAPIC timer is in deadline mode,
  // and setting the LAPIC would cancel an armed deadline.
  UVM_CHECK(vcpu.SetMsrs(s.msrs));
  // Pending events last: an exception or interrupt is injected on top of the registers above.
  UVM_CHECK(SetStruct(fd, KVM_SET_VCPU_EVENTS, s.events, "KVM_SET_VCPU_EVENTS"));
  UVM_CHECK(SetStruct(fd, KVM_SET_MP_STATE, s.mp_state, "KVM_SET_MP_STATE"));
  return {};
}

Result<VmState> CaptureVm(const Vm& vm) {
  VmState s;
  UVM_TRY(s.clock, GetStruct<kvm_clock_data>(vm.fd(), KVM_GET_CLOCK, "KVM_GET_CLOCK"));
  for (uint32_t chip : {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC}) {
    kvm_irqchip ic{};
    ic.chip_id = chip;
    if (Ioctl(vm.fd(), KVM_GET_IRQCHIP, &ic) < 0) {
      return ErrnoErr("KVM_GET_IRQCHIP (snapshots need the in-kernel irqchip)");
    }
    if (chip == KVM_IRQCHIP_PIC_MASTER) s.pic_master = ic.chip.pic;
    if (chip == KVM_IRQCHIP_PIC_SLAVE) s.pic_slave = ic.chip.pic;
    if (chip == KVM_IRQCHIP_IOAPIC) s.ioapic = ic.chip.ioapic;
  }
  UVM_TRY(s.pit, GetStruct<kvm_pit_state2>(vm.fd(), KVM_GET_PIT2, "KVM_GET_PIT2"));
  return s;
}

Result<void> ApplyIrqchipAndPit(const Vm& vm, const VmState& s) {
  for (uint32_t chip : {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC}) {
    kvm_irqchip ic{};
    ic.chip_id = chip;
    if (chip == KVM_IRQCHIP_PIC_MASTER) ic.chip.pic = s.pic_master;
    if (chip == KVM_IRQCHIP_PIC_SLAVE) ic.chip.pic = s.pic_slave;
    if (chip == KVM_IRQCHIP_IOAPIC) ic.chip.ioapic = s.ioapic;
    UVM_CHECK(SetStruct(vm.fd(), KVM_SET_IRQCHIP, ic, "KVM_SET_IRQCHIP"));
  }
  return SetStruct(vm.fd(), KVM_SET_PIT2, s.pit, "KVM_SET_PIT2");
}

Result<void> ApplyClock(const Vm& vm, const kvm_clock_data& clock) {
  // The saved kvmclock value as is (flags 0): guest time resumes where it stopped. Moving it to
  // the wall clock is the agent's job in a clone (ARCHITECTURE.md "The agent").
  kvm_clock_data c{};
  c.clock = clock.clock;
  return SetStruct(vm.fd(), KVM_SET_CLOCK, c, "KVM_SET_CLOCK");
}

}  // namespace uvm::vmm::snapshot
