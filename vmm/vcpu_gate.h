// Pausing a running VM: its vCPU threads held out of KVM_RUN until it is resumed, so the guest
// runs no instruction and costs the host no CPU. The devices keep serving the host side: what the
// host sends the guest waits in their queues until the guest runs again. The runner (runner.h)
// attaches the means to kick and park its vCPUs; a control socket's PAUSE and RESUME
// (control_socket.h) call Pause() and Resume() from the device loop.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

#include "base/result.h"

namespace uvm::vmm {

class VcpuGate {
 public:
  struct Vcpus {
    int count = 0;
    std::function<void()> kick;       // makes every vCPU leave KVM_RUN (or not enter it)
    std::function<void()> on_parked;  // all are parked: e.g. tell the guest's clock (kvmclock)
  };
  // The runner's vCPUs, while they run; Detach() once they are joined.
  void Attach(Vcpus vcpus);
  void Detach();

  // A vCPU thread, before KVM_RUN, when it was kicked or a pause is asked for: while the VM is
  // paused, waits (counted as parked) until it is resumed or closed. Then, unless the VM is
  // ending, `clear_kick` runs (under the gate's lock, so a stop's kick is never cleared).
  void Pass(const std::function<void()>& clear_kick);
  // Whether a vCPU must call Pass() before KVM_RUN although it was not kicked.
  bool pause_requested() const;

  // Parks every vCPU and waits, at most `timeout`, until they all are. Paused already: done.
  Result<void> Pause(std::chrono::milliseconds timeout);
  // Lets the vCPUs run again. Not paused: nothing to do.
  void Resume();
  bool paused() const;
  // The VM is ending: no vCPU waits here any more, and a Pause() fails.
  void Close();

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Vcpus vcpus_;
  std::atomic<bool> paused_{false};  // written under mu_; read without it by pause_requested()
  bool closed_ = false;
  int parked_ = 0;
};

}  // namespace uvm::vmm
