#include "vmm/linux_boot.h"

#include <cstring>

#include "boot/boot_params.h"
#include "boot/cpu_tables.h"
#include "boot/kernel_loader.h"
#include "boot/layout.h"
#include "boot/mptable.h"
#include "vmm/cpu_setup.h"
#include "vmm/cpuid.h"

namespace uvm::vmm {

Result<void> LoadLinux(Machine& machine, const LinuxImage& image) {
  const GuestMemory& mem = machine.memory;
  UVM_CHECK(boot::CheckCmdline(image.cmdline));
  // vmlinux segments are mapped copy-on-write from the page cache rather than copied: no guest
  // page is allocated or written for kernel text the guest only reads, and VMs booting the same
  // kernel share those pages. The tail of each segment's last file page and its zeroed part are
  // written as usual. Anything not page-aligned falls back to the loader's copy.
  auto place = [&](const boot::ElfSegmentPlacement& s) {
    constexpr uint64_t kPage = 4096;
    const uint64_t mapped = s.filesz & ~(kPage - 1);
    if (image.kernel_fd < 0 || s.gpa % kPage != 0 || s.offset % kPage != 0 || mapped == 0) {
      return false;
    }
    if (!mem.MapFile(s.gpa, mapped, image.kernel_fd, s.offset)) return false;
    uint8_t* rest = mem.HostPtr(s.gpa + mapped, s.memsz - mapped);
    std::memcpy(rest, image.kernel.data() + s.offset + mapped, s.filesz - mapped);
    std::memset(rest + (s.filesz - mapped), 0, s.memsz - s.filesz);
    return true;
  };
  UVM_TRY(boot::LoadedKernel kernel, Context(boot::LoadKernel(mem, image.kernel, place), "kernel"));
  std::optional<boot::InitrdPlacement> initrd;
  if (image.initrd) {
    UVM_TRY(initrd, Context(boot::PlaceInitrd(mem, kernel, *image.initrd), "initrd"));
  }
  UVM_CHECK(boot::WriteCmdline(mem, image.cmdline));
  std::vector<RegionSpec> ram;
  for (const GuestRegion& r : mem.regions()) ram.push_back({r.gpa, r.size});
  UVM_CHECK(boot::WriteBootParams(mem, kernel, initrd, image.cmdline.size(), boot::BuildE820(ram)));
  UVM_CHECK(boot::WriteGdt(mem));
  UVM_TRY(uint64_t cr3, boot::WriteIdentityPageTables(mem));
  const int cpus = static_cast<int>(machine.vcpus.size());
  UVM_CHECK(boot::WriteMpTable(mem, cpus));

  UVM_TRY(auto supported, machine.kvm.SupportedCpuid());
  if (machine.kvm.CheckExtension(KVM_CAP_TSC_DEADLINE_TIMER) > 0) EnableTscDeadline(supported);
  for (Vcpu& vcpu : machine.vcpus) {
    UVM_CHECK(SetupCpuidAndMsrs(vcpu, supported, cpus));
    UVM_CHECK(SetupLapicLints(vcpu));
  }
  return SetupLongMode(
      machine.vcpus[0],
      {.rip = kernel.entry, .rsi = boot::kZeroPageAddr, .rsp = boot::kBootStackTop, .cr3 = cr3});
}

}  // namespace uvm::vmm
