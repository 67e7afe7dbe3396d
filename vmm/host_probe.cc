#include "vmm/host_probe.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <vector>

#include "devices/bus.h"
#include "vmm/cpu_setup.h"
#include "vmm/cpuid.h"
#include "vmm/tiny_guest.h"
#include "vmm/vcpu_loop.h"

namespace uvm::vmm {
namespace {

constexpr uint16_t kProbePort = 0xe0;

// Records every write to the probe port.
class PortRecorder : public devices::BusDevice {
 public:
  void Read(uint64_t, std::span<uint8_t> d) override {
    for (auto& b : d) b = 0;
  }
  void Write(uint64_t, std::span<const uint8_t> d) override {
    uint64_t v = 0;
    for (size_t i = 0; i < d.size() && i < 8; ++i) v |= uint64_t{d[i]} << (8 * i);
    values.push_back(v);
  }
  std::vector<uint64_t> values;
};

struct TinyRun {
  VmExit exit;
  std::vector<uint64_t> port_values;
};

Result<TinyRun> RunTiny(Machine& m) {
  auto recorder = std::make_shared<PortRecorder>();
  devices::Bus::Builder pio;
  UVM_CHECK(pio.Add(kProbePort, 4, recorder, "probe"));
  devices::Bus pio_bus = std::move(pio).Build();
  devices::Bus mmio_bus;
  ExitLatch latch;
  RunVcpu(m.vcpus[0], {pio_bus, mmio_bus}, latch);
  return TinyRun{latch.Wait(), recorder->values};
}

// mov dx, kProbePort; mov al, 'K'; out dx, al; hlt
const std::vector<uint8_t> kHelloCode = {0x66, 0xba, kProbePort, 0x00, 0xb0, 'K', 0xee, 0xf4};

// mov eax, 1; cpuid; mov eax, ebx; mov dx, kProbePort; out dx, eax; mov eax, ecx; out dx, eax; hlt
const std::vector<uint8_t> kCpuidCode = {0xb8, 1,    0,    0,    0,    0x0f,
                                         0xa2, 0x89, 0xd8, 0x66, 0xba, kProbePort,
                                         0x00, 0xef, 0x89, 0xc8, 0xef, 0xf4};

// mov ecx, N; l: dec ecx; jnz l; mov dx, kProbePort; out dx, al; hlt
std::vector<uint8_t> LoopCode(uint32_t n) {
  return {0xb9,
          static_cast<uint8_t>(n),
          static_cast<uint8_t>(n >> 8),
          static_cast<uint8_t>(n >> 16),
          static_cast<uint8_t>(n >> 24),
          0xff,
          0xc9,
          0x75,
          0xfc,
          0x66,
          0xba,
          kProbePort,
          0x00,
          0xee,
          0xf4};
}

ProbeCheck CheckTinyGuest() {
  auto m = CreateTinyGuest(kHelloCode);
  if (!m) return {false, m.error().message};
  auto run = RunTiny(**m);
  if (!run) return {false, run.error().message};
  if (run->port_values == std::vector<uint64_t>{'K'} && run->exit.kind == ExitKind::kHalted) {
    return {true, "64-bit guest code ran; port I/O and HLT reached uvm"};
  }
  return {false, "tiny guest did not behave: " + run->exit.detail};
}

ProbeCheck CheckCpuidFilter() {
  auto m = CreateTinyGuest(kCpuidCode);
  if (!m) return {false, m.error().message};
  // Give the guest an APIC id no host CPU here has and a feature word without the host's
  // optional bits, then see whether the guest reads both back.
  constexpr uint32_t kMarkerApicId = 0xa5;
  // The feature bits kept: SSE3 (0), SSSE3 (9), CX16 (13), SSE4.1/4.2 (19, 20), POPCNT (23),
  // hypervisor (31). Everything else, XSAVE and AVX among them, is hidden from the guest.
  constexpr uint32_t kKeptEcx =
      (1u << 0) | (1u << 9) | (1u << 13) | (1u << 19) | (1u << 20) | (1u << 23) | (1u << 31);
  auto cpuid = (*m)->kvm.SupportedCpuid();
  if (!cpuid) return {false, cpuid.error().message};
  NormalizeCpuid(*cpuid, 0, 1);
  uint32_t want_ecx = 0;
  if (auto* leaf1 = FindCpuid(*cpuid, 1)) {
    leaf1->ebx = (leaf1->ebx & 0x00ffffff) | (kMarkerApicId << 24);
    leaf1->ecx &= kKeptEcx;
    want_ecx = leaf1->ecx;
  }
  if (auto r = (*m)->vcpus[0].SetCpuid(*cpuid); !r) return {false, r.error().message};
  auto run = RunTiny(**m);
  if (!run) return {false, run.error().message};
  if (run->port_values.size() != 2) return {false, "CPUID guest failed: " + run->exit.detail};
  uint32_t seen_apic = static_cast<uint32_t>(run->port_values[0] >> 24) & 0xff;
  uint32_t seen_ecx = static_cast<uint32_t>(run->port_values[1]);
  if (seen_apic == kMarkerApicId && seen_ecx == want_ecx) {
    return {true, "the guest sees the CPUID uvm sets"};
  }
  char msg[200];
  std::snprintf(msg, sizeof msg,
                "KVM_SET_CPUID2 is not honoured: leaf 1 ECX set to 0x%08x, the guest saw 0x%08x "
                "(a Linux guest would use CPU features KVM cannot give it)",
                want_ecx, seen_ecx);
  return {false, msg};
}

ProbeCheck CheckSyscall() {
  // Kernel code at 0x10000 irets to user code at 0x11000, which does SYSCALL; the handler at
  // 0x12000 reports RCX (where SYSCALL saved the user RIP) and halts, which only works in CPL0.
  // The user code does no port I/O itself: CPL3 I/O depends on the TSS, which KVM sets up
  // differently on Intel and AMD. Page tables and GDT are the probe's own: user pages and Linux's
  // selector layout (user code 0x33, user data 0x2b, STAR for sysret base 0x23).
  std::vector<uint8_t> code(0x3000, 0xf4);
  const uint8_t kernel[] = {0x6a, 0x2b,                     // push ss
                            0x68, 0x00, 0x80, 0x00, 0x00,   // push rsp 0x8000
                            0x68, 0x02, 0x00, 0x00, 0x00,   // push rflags 2
                            0x6a, 0x33,                     // push cs
                            0x68, 0x00, 0x10, 0x01, 0x00,   // push rip 0x11000
                            0x48, 0xcf};                    // iretq
  const uint8_t user[] = {0x0f, 0x05,                       // syscall
                          0xeb, 0xfe};                      // jmp .
  const uint8_t handler[] = {0x66, 0xba, kProbePort, 0x00,  // mov dx, port
                             0x89, 0xc8, 0xef,              // mov eax, ecx; out dx, eax
                             0xf4};                         // hlt
  constexpr uint64_t kAfterSyscall = 0x11002;
  std::copy(std::begin(kernel), std::end(kernel), code.begin());
  std::copy(std::begin(user), std::end(user), code.begin() + 0x1000);
  std::copy(std::begin(handler), std::end(handler), code.begin() + 0x2000);
  auto m = CreateTinyGuest(code);
  if (!m) return {false, m.error().message};
  Machine& machine = **m;
  // Own 4-level tables with the user bit at every level: 2 MiB identity page at 0.
  const uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kGdt = 0x600;
  auto w = [&](uint64_t gpa, uint64_t v) { return machine.memory.WriteObj<uint64_t>(gpa, v); };
  const uint64_t gdt[] = {0,
                          0,
                          0x00af9b000000ffff,
                          0x00cf93000000ffff,
                          0x00cffb000000ffff,
                          0x00cff3000000ffff,
                          0x00affb000000ffff};
  bool ok = w(kPml4, kPdpt | 7) && w(kPdpt, kPd | 7) && w(kPd, 0x87);
  for (size_t i = 0; i < std::size(gdt); ++i) ok = ok && w(kGdt + 8 * i, gdt[i]);
  if (!ok) return {false, "writing probe tables failed"};
  Vcpu& vcpu = machine.vcpus[0];
  auto sregs = vcpu.GetSregs();
  if (!sregs) return {false, sregs.error().message};
  sregs->cr3 = kPml4;
  sregs->gdt.base = kGdt;
  sregs->gdt.limit = sizeof(gdt) - 1;
  sregs->efer |= 1;  // SCE: SYSCALL enabled
  if (auto r = vcpu.SetSregs(*sregs); !r) return {false, r.error().message};
  std::vector<kvm_msr_entry> msrs(3);
  msrs[0].index = 0xc0000081;  // STAR: SYSCALL CS 0x10, SYSRET base 0x23
  msrs[0].data = (uint64_t{0x23} << 48) | (uint64_t{0x10} << 32);
  msrs[1].index = 0xc0000082;  // LSTAR
  msrs[1].data = 0x12000;
  msrs[2].index = 0xc0000084;  // SFMASK: clear IF, TF, DF, AC
  msrs[2].data = 0x47700;
  if (auto r = vcpu.SetMsrs(msrs); !r) return {false, r.error().message};
  auto run = RunTiny(machine);
  if (!run) return {false, run.error().message};
  const bool reached_lstar = run->port_values == std::vector<uint64_t>{kAfterSyscall};
  if (reached_lstar && run->exit.kind == ExitKind::kHalted) {
    return {true, "SYSCALL from user mode reaches the kernel (CPL0)"};
  }
  if (reached_lstar) {
    return {false, "SYSCALL jumped to LSTAR but stayed in user mode (HLT faulted: " +
                       run->exit.detail + "); a Linux init cannot make its first system call"};
  }
  return {false, "user-mode probe failed: " + run->exit.detail};
}

double MeasureCpl0() {
  constexpr uint32_t kIterations = 20000;
  auto m = CreateTinyGuest(LoopCode(kIterations));
  if (!m) return 0;
  auto start = std::chrono::steady_clock::now();
  auto run = RunTiny(**m);
  auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
  if (!run || run->exit.kind != ExitKind::kHalted) return 0;
  return ns.count() / kIterations;
}

bool ReadFlag(const char* path) {
  std::ifstream f(path);
  std::string s;
  return f && (f >> s) && (s == "Y" || s == "1");
}

}  // namespace

HostProbe ProbeHost() {
  HostProbe p;
  p.pvm_native = ReadFlag("/sys/module/kvm_pvm/parameters/pvm_native");
  p.tun = access("/dev/net/tun", R_OK | W_OK) == 0;
  p.vhost_net = access("/dev/vhost-net", F_OK) == 0;
  p.vhost_vsock = access("/dev/vhost-vsock", F_OK) == 0;
  auto kvm = Kvm::Open();
  if (!kvm) {
    p.kvm = {false, kvm.error().message};
    return p;
  }
  p.kvm = {true, "/dev/kvm opens, API version 12"};
  p.tiny_guest = CheckTinyGuest();
  if (!p.tiny_guest.ok) return p;
  p.cpuid_filter = CheckCpuidFilter();
  p.syscall_cpl0 = CheckSyscall();
  p.cpl0_ns_per_loop = MeasureCpl0();
  return p;
}

}  // namespace uvm::vmm
