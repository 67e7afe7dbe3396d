#include "vmm/snapshot/vm_pool.h"

namespace uvm::vmm::snapshot {

std::unique_ptr<VmPool> VmPool::Start(int vcpus, std::vector<RegionSpec> ram, size_t capacity) {
  std::unique_ptr<VmPool> pool(new VmPool(vcpus, std::move(ram), capacity == 0 ? 1 : capacity));
  pool->thread_ = std::thread([p = pool.get()] { p->Refill(); });
  return pool;
}

VmPool::~VmPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void VmPool::Refill() {
  std::unique_lock lock(mu_);
  while (true) {
    changed_.wait(lock, [&] { return stop_ || ready_.size() < capacity_; });
    if (stop_) return;
    lock.unlock();
    // Created without the lock: a Take() does not wait for a VM being built.
    Result<EmptyVm> vm = CreateEmptyVm(vcpus_, ram_);
    lock.lock();
    if (!vm) {
      failed_ = vm.error();
      changed_.notify_all();
      return;
    }
    ready_.push_back(std::move(*vm));
    changed_.notify_all();
  }
}

Result<EmptyVm> VmPool::Take() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return !ready_.empty() || failed_.has_value(); });
  if (ready_.empty()) return Err("VM pool: " + failed_->message);
  EmptyVm vm = std::move(ready_.front());
  ready_.pop_front();
  lock.unlock();
  changed_.notify_all();
  return vm;
}

void VmPool::WaitFull() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return ready_.size() >= capacity_ || failed_.has_value(); });
}

}  // namespace uvm::vmm::snapshot
