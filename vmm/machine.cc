#include "vmm/machine.h"

namespace uvm::vmm {

Result<std::unique_ptr<Machine>> CreateMachine(const MachineSpec& spec) {
  UVM_TRY(Kvm kvm, Kvm::Open());
  UVM_TRY(Vm vm, Vm::Create(kvm));
  // The irqchip must exist before vCPUs are created so each gets an in-kernel LAPIC.
  if (spec.irqchip) UVM_CHECK(vm.CreateIrqchipAndPit());
  UVM_TRY(GuestMemory memory, GuestMemory::CreateAnonymous(spec.ram));
  uint32_t slot = 0;
  for (const GuestRegion& r : memory.regions()) {
    UVM_CHECK(vm.SetMemoryRegion(slot++, r.gpa, r.size, r.host));
  }
  std::vector<Vcpu> vcpus;
  vcpus.reserve(static_cast<size_t>(spec.cpus));
  for (int i = 0; i < spec.cpus; ++i) {
    UVM_TRY(Vcpu vcpu, Vcpu::Create(vm, kvm, i));
    vcpus.push_back(std::move(vcpu));
  }
  return std::unique_ptr<Machine>(
      new Machine{std::move(kvm), std::move(vm), std::move(memory), std::move(vcpus)});
}

}  // namespace uvm::vmm
