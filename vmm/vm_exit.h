// Why a VM stopped, and the latch that makes the first reason final: whichever of the vCPUs, the
// devices or the host signal handler reports first wins, and everybody else is asked to stop.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace uvm::vmm {

enum class ExitKind {
  kReset,        // the guest rebooted (i8042 reset, KVM system-event reset)
  kPowerOff,     // the guest powered off (debug-exit port, KVM system-event shutdown)
  kHalted,       // a vCPU executed HLT with no in-kernel irqchip (tiny test guests)
  kTripleFault,  // KVM_EXIT_SHUTDOWN: the guest CPU reset itself through a fault
  kGuestCrash,   // the guest reported a crash (KVM system-event crash)
  kHostSignal,   // uvm was asked to stop (SIGINT/SIGTERM, the console escape)
  kError,        // the VMM failed (KVM error, emulation failure, device error)
  kSave,         // uvm stopped the VM to save it as a snapshot (a template)
};

struct VmExit {
  ExitKind kind;
  int status = 0;  // kPowerOff: the guest's status byte; kHostSignal: the signal number
  std::string detail;
};

const char* ExitKindName(ExitKind kind);

class ExitLatch {
 public:
  // Records the exit if it is the first one; returns whether it was.
  bool Report(VmExit exit);
  bool fired() const;
  // Waits until the latch has fired AND its hooks have returned: a hook may capture the waiter's
  // locals (RunMachine's vCPU handles), which the waiter destroys once Wait() returns. (uvm run
  // crashed now and then after the container exited: its main thread was still in the hook,
  // kicking vCPUs of a machine the VM thread had already torn down.)
  VmExit Wait() const;
  std::optional<VmExit> Peek() const;
  // Called once, on the reporting thread, when the latch fires (e.g. kick the vCPU threads).
  void OnFire(std::function<void()> hook);

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::optional<VmExit> exit_;
  bool hooks_done_ = false;
  std::vector<std::function<void()>> hooks_;
};

}  // namespace uvm::vmm
