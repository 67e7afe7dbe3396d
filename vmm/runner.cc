#include "vmm/runner.h"

#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <thread>
#include <vector>

namespace uvm::vmm {

VmExit RunMachine(Machine& machine, IoBuses buses, ExitLatch& latch, EventLoop& loop,
                  std::function<void()> tick, VcpuGate* gate) {
  InstallKickHandler();
  std::vector<std::thread> threads;
  std::vector<unsigned long> handles(machine.vcpus.size());
  std::mutex handles_mu;
  auto kick_all = [&] {
    std::lock_guard lock(handles_mu);
    for (size_t i = 0; i < threads.size(); ++i) KickVcpu(machine.vcpus[i], handles[i]);
  };
  if (gate) {
    gate->Attach({static_cast<int>(machine.vcpus.size()), kick_all, [&machine] {
                    // The guest's clock is told it was stopped (KVM_KVMCLOCK_CTRL), so a long
                    // pause is not taken for a lockup; a guest without kvmclock refuses: fine.
                    for (Vcpu& vcpu : machine.vcpus) ::ioctl(vcpu.fd(), KVM_KVMCLOCK_CTRL, 0);
                  }});
  }
  latch.OnFire([&] {
    // Before the handles' lock: a Pause() holds the gate's lock while it kicks (vcpu_gate.cc).
    if (gate) gate->Close();
    loop.Stop();
    kick_all();
  });
  {
    std::lock_guard lock(handles_mu);
    for (Vcpu& vcpu : machine.vcpus) {
      threads.emplace_back([&vcpu, buses, &latch, gate] {
        // Host signals (SIGINT, SIGTERM) belong to the control thread, never to a vCPU.
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, nullptr);
        RunVcpu(vcpu, buses, latch, gate);
      });
      handles[threads.size() - 1] = threads.back().native_handle();
    }
  }
  if (!latch.fired()) {
    if (auto r = tick ? loop.Run(20, tick) : loop.Run(); !r)
      latch.Report({ExitKind::kError, 0, r.error().message});
  }
  VmExit exit = latch.Wait();
  // A vCPU may have been between the latch check and KVM_RUN when the first kick went out.
  for (size_t i = 0; i < threads.size(); ++i) {
    KickVcpu(machine.vcpus[i], handles[i]);
  }
  for (auto& t : threads) t.join();
  if (gate) gate->Detach();
  return exit;
}

}  // namespace uvm::vmm
