#include "vmm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "vmm/kvm_ioctl.h"

namespace uvm::vmm {
namespace {

// Debian 12's <linux/kvm.h> declares the variable-length KVM structs with __DECLARE_FLEX_ARRAY,
// which in C++ adds an empty member: sizeof and the offset of the array grow by 4 or 8 bytes, and
// the ioctl numbers (which encode the size) stop matching the kernel's. These headers have the C
// layout; each buffer is a header followed directly by its entries.
struct CpuidHeader {
  uint32_t nent;
  uint32_t padding;
};
struct MsrsHeader {
  uint32_t nmsrs;
  uint32_t pad;
};
struct MsrListHeader {
  uint32_t nmsrs;
};
constexpr unsigned long kGetMsrIndexList = _IOWR(KVMIO, 0x02, MsrListHeader);
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);

using kvm_ioctl::VarBuffer;

using kvm_ioctl::GetStruct;
using kvm_ioctl::Ioctl;
using kvm_ioctl::SetStruct;

}  // namespace

Result<Kvm> Kvm::Open(const char* path) {
  if (!path) path = std::getenv("UVM_KVM_DEVICE");
  if (!path) path = "/dev/kvm";
  Kvm kvm;
  kvm.fd_.Reset(::open(path, O_RDWR | O_CLOEXEC));
  if (!kvm.fd_.valid()) {
    int err = errno;
    if (err == ENOENT) {
      return Err(std::string(path) +
                 " does not exist: this host has no KVM (load kvm_intel/kvm_amd, or enable nested "
                 "virtualization for this VM)");
    }
    if (err == EACCES) {
      return Err(std::string("cannot open ") + path +
                 ": permission denied (run as root or join the kvm group)");
    }
    return ErrnoErr(std::string("opening ") + path, err);
  }
  int version = Ioctl(kvm.fd(), KVM_GET_API_VERSION, nullptr);
  if (version != KVM_API_VERSION) {
    return Err("KVM API version " + std::to_string(version) + ", uvm needs " +
               std::to_string(KVM_API_VERSION));
  }
  for (auto [cap, name] : {std::pair{KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
                           {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
                           {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
                           {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
                           {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
                           {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
                           {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"}}) {
    if (kvm.CheckExtension(cap) <= 0) return Err(std::string("KVM lacks ") + name);
  }
  int size = Ioctl(kvm.fd(), KVM_GET_VCPU_MMAP_SIZE, nullptr);
  if (size < static_cast<int>(sizeof(kvm_run))) return ErrnoErr("KVM_GET_VCPU_MMAP_SIZE");
  kvm.vcpu_mmap_size_ = static_cast<size_t>(size);
  return kvm;
}

int Kvm::CheckExtension(long cap) const {
  return Ioctl(fd(), KVM_CHECK_EXTENSION, reinterpret_cast<void*>(cap));
}

Result<std::vector<kvm_cpuid_entry2>> Kvm::SupportedCpuid() const {
  // The kernel says E2BIG until the buffer is large enough.
  for (uint32_t n = 64; n <= 4096; n *= 2) {
    VarBuffer<CpuidHeader, kvm_cpuid_entry2> buf(n);
    buf.header()->nent = n;
    if (Ioctl(fd(), kGetSupportedCpuid, buf.header()) == 0) {
      return std::vector<kvm_cpuid_entry2>(buf.entries(), buf.entries() + buf.header()->nent);
    }
    if (errno != E2BIG) return ErrnoErr("KVM_GET_SUPPORTED_CPUID");
  }
  return Err("KVM_GET_SUPPORTED_CPUID: too many entries");
}

Result<std::vector<uint32_t>> Kvm::MsrIndexList() const {
  for (uint32_t n = 256; n <= 16384; n *= 2) {
    VarBuffer<MsrListHeader, uint32_t> buf(n);
    buf.header()->nmsrs = n;
    if (Ioctl(fd(), kGetMsrIndexList, buf.header()) == 0) {
      return std::vector<uint32_t>(buf.entries(), buf.entries() + buf.header()->nmsrs);
    }
    if (errno != E2BIG) return ErrnoErr("KVM_GET_MSR_INDEX_LIST");
  }
  return Err("KVM_GET_MSR_INDEX_LIST: too many entries");
}

Result<Vm> Vm::Create(const Kvm& kvm) {
  Vm vm;
  int fd;
  // KVM_CREATE_VM can fail with EINTR while the kernel sets up the MMU; retry as for any ioctl.
  do {
    fd = ::ioctl(kvm.fd(), KVM_CREATE_VM, 0);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoErr("KVM_CREATE_VM");
  vm.fd_.Reset(fd);
  return vm;
}

Result<void> Vm::SetMemoryRegion(uint32_t slot, uint64_t gpa, uint64_t size, void* host,
                                 uint32_t flags) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = flags;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  return SetStruct(fd(), KVM_SET_USER_MEMORY_REGION, region, "KVM_SET_USER_MEMORY_REGION");
}

Result<void> Vm::CreateIrqchipAndPit() {
  // Intel needs the TSS (three pages) and the identity-map page somewhere the guest does not use:
  // just below the LAPIC/IOAPIC window, inside the MMIO gap.
  if (Ioctl(fd(), KVM_SET_TSS_ADDR, reinterpret_cast<void*>(0xfffbd000ul)) < 0) {
    return ErrnoErr("KVM_SET_TSS_ADDR");
  }
  uint64_t identity = 0xfffbc000;
  if (Ioctl(fd(), KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0) {
    return ErrnoErr("KVM_SET_IDENTITY_MAP_ADDR");
  }
  if (Ioctl(fd(), KVM_CREATE_IRQCHIP, nullptr) < 0) return ErrnoErr("KVM_CREATE_IRQCHIP");
  kvm_pit_config pit{};
  pit.flags = KVM_PIT_SPEAKER_DUMMY;
  if (Ioctl(fd(), KVM_CREATE_PIT2, &pit) < 0) return ErrnoErr("KVM_CREATE_PIT2");
  return {};
}

Result<void> Vm::PulseIrqLine(uint32_t gsi) const {
  kvm_irq_level line{};
  line.irq = gsi;
  for (uint32_t level : {1u, 0u}) {
    line.level = level;
    UVM_CHECK(SetStruct(fd(), KVM_IRQ_LINE, line, "KVM_IRQ_LINE"));
  }
  return {};
}

Result<void> Vm::RegisterIoeventfd(int eventfd, uint64_t addr, uint32_t len,
                                   std::optional<uint64_t> datamatch) {
  kvm_ioeventfd io{};
  io.fd = eventfd;
  io.addr = addr;
  io.len = len;
  if (datamatch) {
    io.datamatch = *datamatch;
    io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
  }
  return SetStruct(fd(), KVM_IOEVENTFD, io, "KVM_IOEVENTFD");
}

Result<Vcpu> Vcpu::Create(const Vm& vm, const Kvm& kvm, int index) {
  int fd = Ioctl(vm.fd(), KVM_CREATE_VCPU, reinterpret_cast<void*>(static_cast<long>(index)));
  if (fd < 0) return ErrnoErr("KVM_CREATE_VCPU " + std::to_string(index));
  UniqueFd owned(fd);
  void* run = ::mmap(nullptr, kvm.vcpu_mmap_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (run == MAP_FAILED) return ErrnoErr("mapping the vCPU run area");
  return Vcpu(std::move(owned), static_cast<kvm_run*>(run), kvm.vcpu_mmap_size(), index);
}

Vcpu::Vcpu(Vcpu&& o) noexcept
    : fd_(std::move(o.fd_)),
      run_(std::exchange(o.run_, nullptr)),
      run_size_(o.run_size_),
      index_(o.index_) {}

Vcpu::~Vcpu() {
  if (run_) ::munmap(run_, run_size_);
}

Result<void> Vcpu::Run() {
  if (::ioctl(fd(), KVM_RUN, nullptr) < 0) {
    if (errno == EINTR || errno == EAGAIN) {
      run_->exit_reason = KVM_EXIT_INTR;
      return {};
    }
    return ErrnoErr("KVM_RUN");
  }
  return {};
}

Result<kvm_regs> Vcpu::GetRegs() const {
  return GetStruct<kvm_regs>(fd(), KVM_GET_REGS, "KVM_GET_REGS");
}
Result<void> Vcpu::SetRegs(const kvm_regs& r) {
  return SetStruct(fd(), KVM_SET_REGS, r, "KVM_SET_REGS");
}
Result<kvm_sregs> Vcpu::GetSregs() const {
  return GetStruct<kvm_sregs>(fd(), KVM_GET_SREGS, "KVM_GET_SREGS");
}
Result<void> Vcpu::SetSregs(const kvm_sregs& s) {
  return SetStruct(fd(), KVM_SET_SREGS, s, "KVM_SET_SREGS");
}
Result<void> Vcpu::SetFpu(const kvm_fpu& f) {
  return SetStruct(fd(), KVM_SET_FPU, f, "KVM_SET_FPU");
}
Result<kvm_lapic_state> Vcpu::GetLapic() const {
  return GetStruct<kvm_lapic_state>(fd(), KVM_GET_LAPIC, "KVM_GET_LAPIC");
}
Result<void> Vcpu::SetLapic(const kvm_lapic_state& l) {
  return SetStruct(fd(), KVM_SET_LAPIC, l, "KVM_SET_LAPIC");
}

Result<void> Vcpu::SetCpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  VarBuffer<CpuidHeader, kvm_cpuid_entry2> buf(entries.size());
  buf.header()->nent = static_cast<uint32_t>(entries.size());
  std::memcpy(buf.entries(), entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
  if (Ioctl(fd(), kSetCpuid2, buf.header()) < 0) return ErrnoErr("KVM_SET_CPUID2");
  return {};
}

Result<void> Vcpu::SetMsrs(const std::vector<kvm_msr_entry>& msrs) {
  VarBuffer<MsrsHeader, kvm_msr_entry> buf(msrs.size());
  buf.header()->nmsrs = static_cast<uint32_t>(msrs.size());
  std::memcpy(buf.entries(), msrs.data(), msrs.size() * sizeof(kvm_msr_entry));
  int n = Ioctl(fd(), kSetMsrs, buf.header());
  if (n < 0) return ErrnoErr("KVM_SET_MSRS");
  if (static_cast<size_t>(n) != msrs.size()) {
    char what[80];
    std::snprintf(what, sizeof what, "KVM_SET_MSRS: MSR 0x%x refused",
                  msrs[static_cast<size_t>(n)].index);
    return Err(what);
  }
  return {};
}

}  // namespace uvm::vmm
