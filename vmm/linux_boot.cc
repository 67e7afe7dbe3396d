#include "vmm/linux_boot.h"

#include "boot/boot_params.h"
#include "boot/cpu_tables.h"
#include "boot/kernel_loader.h"
#include "boot/layout.h"
#include "boot/mptable.h"
#include "vmm/cpu_setup.h"

namespace uvm::vmm {

Result<void> LoadLinux(Machine& machine, const LinuxImage& image) {
  const GuestMemory& mem = machine.memory;
  UVM_CHECK(boot::CheckCmdline(image.cmdline));
  UVM_TRY(boot::LoadedKernel kernel, Context(boot::LoadKernel(mem, image.kernel), "kernel"));
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
  for (Vcpu& vcpu : machine.vcpus) {
    UVM_CHECK(SetupCpuidAndMsrs(vcpu, supported, cpus));
    UVM_CHECK(SetupLapicLints(vcpu));
  }
  return SetupLongMode(
      machine.vcpus[0],
      {.rip = kernel.entry, .rsi = boot::kZeroPageAddr, .rsp = boot::kBootStackTop, .cr3 = cr3});
}

}  // namespace uvm::vmm
