#include "vmm/runner.h"

#include <pthread.h>
#include <signal.h>

#include <thread>
#include <vector>

namespace uvm::vmm {

VmExit RunMachine(Machine& machine, IoBuses buses, ExitLatch& latch, EventLoop& loop,
                  std::function<void()> tick) {
  InstallKickHandler();
  std::vector<std::thread> threads;
  std::vector<unsigned long> handles(machine.vcpus.size());
  std::mutex handles_mu;
  latch.OnFire([&] {
    loop.Stop();
    std::lock_guard lock(handles_mu);
    for (size_t i = 0; i < threads.size(); ++i) KickVcpu(machine.vcpus[i], handles[i]);
  });
  {
    std::lock_guard lock(handles_mu);
    for (Vcpu& vcpu : machine.vcpus) {
      threads.emplace_back([&vcpu, buses, &latch] {
        // Host signals (SIGINT, SIGTERM) belong to the control thread, never to a vCPU.
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, nullptr);
        RunVcpu(vcpu, buses, latch);
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
  return exit;
}

}  // namespace uvm::vmm
