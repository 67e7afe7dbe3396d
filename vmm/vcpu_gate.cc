#include "vmm/vcpu_gate.h"

namespace uvm::vmm {

void VcpuGate::Attach(Vcpus vcpus) {
  std::lock_guard lock(mu_);
  vcpus_ = std::move(vcpus);
  closed_ = false;
}

void VcpuGate::Detach() {
  std::lock_guard lock(mu_);
  vcpus_ = Vcpus{};
  closed_ = true;
  paused_ = false;
  cv_.notify_all();
}

void VcpuGate::Pass(const std::function<void()>& clear_kick) {
  std::unique_lock lock(mu_);
  if (paused_ && !closed_) {
    ++parked_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return !paused_ || closed_; });
    --parked_;
  }
  if (!closed_) clear_kick();
}

bool VcpuGate::pause_requested() const { return paused_.load(std::memory_order_relaxed); }

Result<void> VcpuGate::Pause(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (closed_ || !vcpus_.kick) return Err("the VM is not running");
  if (paused_) return {};
  paused_ = true;
  // The kick runs under the lock: Detach() waits for it, so it never outlives the runner's vCPUs.
  // (The runner's own stop takes this lock only in Close(), before its vCPU handles' lock.)
  vcpus_.kick();
  if (!cv_.wait_for(lock, timeout, [this] { return parked_ == vcpus_.count || closed_; })) {
    paused_ = false;
    cv_.notify_all();
    return Err("the vCPUs did not stop within " + std::to_string(timeout.count()) + " ms");
  }
  if (closed_) return Err("the VM ended");
  if (vcpus_.on_parked) vcpus_.on_parked();
  return {};
}

void VcpuGate::Resume() {
  std::lock_guard lock(mu_);
  paused_ = false;
  cv_.notify_all();
}

bool VcpuGate::paused() const {
  std::lock_guard lock(mu_);
  return paused_ && !closed_;
}

void VcpuGate::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

}  // namespace uvm::vmm
