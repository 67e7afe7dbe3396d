// Runs a Machine: one thread per vCPU (RunVcpu), the device event loop on the calling thread, until
// the ExitLatch fires; then every vCPU is kicked out of KVM_RUN and joined before returning.
#pragma once

#include <functional>

#include "base/event_loop.h"
#include "vmm/machine.h"
#include "vmm/vcpu_gate.h"
#include "vmm/vcpu_loop.h"
#include "vmm/vm_exit.h"

namespace uvm::vmm {

// `tick`, if given, runs on the event-loop thread every few milliseconds while the VM runs.
// `gate`, if given, can pause the vCPUs while they run (vcpu_gate.h).
VmExit RunMachine(Machine& machine, IoBuses buses, ExitLatch& latch, EventLoop& loop,
                  std::function<void()> tick = {}, VcpuGate* gate = nullptr);

}  // namespace uvm::vmm
