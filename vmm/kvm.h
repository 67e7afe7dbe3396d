// Thin owners of the three KVM file descriptors (system, VM, vCPU). Each call maps to one ioctl and
// returns a Result; policy (what to configure, in which order) lives in the VM builder, not here.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace uvm::vmm {

class Kvm {
 public:
  // Opens /dev/kvm and checks the API version and the capabilities uvm cannot work without.
  // Default: $UVM_KVM_DEVICE if set (tests point it elsewhere), else /dev/kvm.
  static Result<Kvm> Open(const char* path = nullptr);

  int fd() const { return fd_.get(); }
  int CheckExtension(long cap) const;
  Result<std::vector<kvm_cpuid_entry2>> SupportedCpuid() const;
  Result<std::vector<uint32_t>> MsrIndexList() const;
  size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }

 private:
  UniqueFd fd_;
  size_t vcpu_mmap_size_ = 0;
};

class Vm {
 public:
  static Result<Vm> Create(const Kvm& kvm);

  int fd() const { return fd_.get(); }
  Result<void> SetMemoryRegion(uint32_t slot, uint64_t gpa, uint64_t size, void* host,
                               uint32_t flags = 0);
  // The in-kernel LAPIC/IOAPIC/PIC and PIT (with the speaker port stubbed in the kernel too).
  Result<void> CreateIrqchipAndPit();
  // One edge on interrupt line `gsi` now, from the calling thread (KVM_IRQ_LINE up, then down):
  // what an irqfd would do, without its hop through a kernel worker (KVM injects an irqfd's edge
  // on a PIC/IOAPIC line from a workqueue). Any thread may call it; every device line uses it.
  Result<void> PulseIrqLine(uint32_t gsi) const;
  // A guest write of `len` bytes to MMIO `addr` (with value `datamatch`, if given) signals
  // `eventfd` inside KVM instead of exiting to uvm (KVM_IOEVENTFD): how virtio queue notifies
  // reach the device loop without stopping the vCPU.
  Result<void> RegisterIoeventfd(int eventfd, uint64_t addr, uint32_t len,
                                 std::optional<uint64_t> datamatch);

 private:
  UniqueFd fd_;
};

class Vcpu {
 public:
  static Result<Vcpu> Create(const Vm& vm, const Kvm& kvm, int index);
  Vcpu(Vcpu&& o) noexcept;
  Vcpu& operator=(Vcpu&&) = delete;
  Vcpu(const Vcpu&) = delete;
  ~Vcpu();

  int index() const { return index_; }
  int fd() const { return fd_.get(); }
  kvm_run* run_state() const { return run_; }

  // One KVM_RUN; an EINTR (a kick from another thread) is returned as success with
  // run_state()->exit_reason == KVM_EXIT_INTR.
  Result<void> Run();

  Result<kvm_regs> GetRegs() const;
  Result<void> SetRegs(const kvm_regs& regs);
  Result<kvm_sregs> GetSregs() const;
  Result<void> SetSregs(const kvm_sregs& sregs);
  Result<void> SetFpu(const kvm_fpu& fpu);
  Result<void> SetCpuid(const std::vector<kvm_cpuid_entry2>& entries);
  Result<void> SetMsrs(const std::vector<kvm_msr_entry>& msrs);
  Result<kvm_lapic_state> GetLapic() const;
  Result<void> SetLapic(const kvm_lapic_state& lapic);

 private:
  Vcpu(UniqueFd fd, kvm_run* run, size_t run_size, int index)
      : fd_(std::move(fd)), run_(run), run_size_(run_size), index_(index) {}

  UniqueFd fd_;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  int index_ = 0;
};

}  // namespace uvm::vmm
