#include "vmm/tiny_guest.h"

#include "boot/cpu_tables.h"
#include "vmm/cpu_setup.h"

namespace uvm::vmm {

Result<std::unique_ptr<Machine>> CreateTinyGuest(std::span<const uint8_t> code,
                                                 const TinyGuestOptions& options) {
  MachineSpec spec;
  spec.ram = {{0, options.ram}};
  spec.cpus = 1;
  spec.irqchip = options.irqchip;
  UVM_TRY(auto machine, CreateMachine(spec));
  if (auto r = machine->memory.Write(kTinyCodeAddr, code); !r) {
    return Err("tiny guest code does not fit in its RAM");
  }
  UVM_CHECK(boot::WriteGdt(machine->memory));
  UVM_TRY(uint64_t cr3, boot::WriteIdentityPageTables(machine->memory));
  UVM_TRY(auto cpuid, machine->kvm.SupportedCpuid());
  Vcpu& vcpu = machine->vcpus[0];
  UVM_CHECK(SetupCpuidAndMsrs(vcpu, std::move(cpuid), 1));
  UVM_CHECK(
      SetupLongMode(vcpu, {.rip = kTinyCodeAddr, .rsi = 0, .rsp = kTinyStackTop, .cr3 = cr3}));
  return machine;
}

}  // namespace uvm::vmm
