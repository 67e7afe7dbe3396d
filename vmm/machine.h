// A created-but-not-started VM: the KVM objects and guest RAM, plain data with no behaviour. What
// runs in it (Linux, a tiny test guest) and which devices it has are decided by the caller.
#pragma once

#include <memory>
#include <vector>

#include "base/guest_memory.h"
#include "vmm/kvm.h"

namespace uvm::vmm {

struct MachineSpec {
  std::vector<RegionSpec> ram;
  int cpus = 1;
  // In-kernel LAPIC/IOAPIC/PIC/PIT. Off only for tiny test guests that want HLT to exit.
  bool irqchip = true;
};

struct Machine {
  Kvm kvm;
  Vm vm;
  GuestMemory memory;
  std::vector<Vcpu> vcpus;
};

Result<std::unique_ptr<Machine>> CreateMachine(const MachineSpec& spec);

}  // namespace uvm::vmm
