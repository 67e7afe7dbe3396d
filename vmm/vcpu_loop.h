// The vCPU thread body: KVM_RUN, then one switch on the exit reason. Port and MMIO exits go to the
// immutable buses; everything that ends the VM goes to the ExitLatch. Returns when the latch fires.
#pragma once

#include "devices/bus.h"
#include "vmm/kvm.h"
#include "vmm/vcpu_gate.h"
#include "vmm/vm_exit.h"

namespace uvm::vmm {

struct IoBuses {
  const devices::Bus& pio;
  const devices::Bus& mmio;
};

// With a gate, the VM can be paused (vcpu_gate.h); without one, a kick always ends the loop.
void RunVcpu(Vcpu& vcpu, IoBuses buses, ExitLatch& latch, VcpuGate* gate = nullptr);

// Makes a blocked KVM_RUN on `thread` return: sets immediate_exit and signals the thread.
// InstallKickHandler() must have run once in the process before vCPU threads start.
void InstallKickHandler();
void KickVcpu(Vcpu& vcpu, unsigned long thread);

}  // namespace uvm::vmm
