#include "vmm/vm_exit.h"

namespace uvm::vmm {

const char* ExitKindName(ExitKind kind) {
  switch (kind) {
    case ExitKind::kReset:
      return "reset";
    case ExitKind::kPowerOff:
      return "power-off";
    case ExitKind::kHalted:
      return "halted";
    case ExitKind::kTripleFault:
      return "triple-fault";
    case ExitKind::kGuestCrash:
      return "guest-crash";
    case ExitKind::kHostSignal:
      return "host-signal";
    case ExitKind::kError:
      return "error";
    case ExitKind::kSave:
      return "saved";
  }
  return "unknown";
}

bool ExitLatch::Report(VmExit exit) {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard lock(mu_);
    if (exit_) return false;
    exit_ = std::move(exit);
    hooks = hooks_;
  }
  // fired() is true from here on (vCPU loops stop early); Wait() returns only after the hooks.
  for (auto& h : hooks) h();
  {
    std::lock_guard lock(mu_);
    hooks_done_ = true;
  }
  cv_.notify_all();
  return true;
}

bool ExitLatch::fired() const {
  std::lock_guard lock(mu_);
  return exit_.has_value();
}

VmExit ExitLatch::Wait() const {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return exit_.has_value() && hooks_done_; });
  return *exit_;
}

std::optional<VmExit> ExitLatch::Peek() const {
  std::lock_guard lock(mu_);
  return exit_;
}

void ExitLatch::OnFire(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  hooks_.push_back(std::move(hook));
}

}  // namespace uvm::vmm
