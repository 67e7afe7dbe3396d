#include "vmm/snapshot/vm_pool.h"

#include <sys/resource.h>
#include <unistd.h>

namespace uvm::vmm::snapshot {
namespace {

// Background work yields the CPU to the thread restoring a clone (nice 10 for this thread only:
// on Linux, setpriority on a thread id applies to that thread). Failure only costs latency.
void LowerThreadPriority() { (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10); }

}  // namespace

std::unique_ptr<VmPool> VmPool::Start(int vcpus, std::vector<RegionSpec> ram, size_t capacity,
                                      int threads) {
  std::unique_ptr<VmPool> pool(new VmPool(vcpus, std::move(ram), capacity == 0 ? 1 : capacity));
  for (int i = 0; i < (threads < 1 ? 1 : threads); ++i) {
    pool->threads_.emplace_back([p = pool.get()] { p->Refill(); });
  }
  return pool;
}

VmPool::~VmPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  for (auto& t : threads_) t.join();
}

void VmPool::Refill() {
  LowerThreadPriority();
  std::unique_lock lock(mu_);
  while (true) {
    changed_.wait(lock, [&] { return stop_ || failed_ || ready_.size() + building_ < capacity_; });
    if (stop_ || failed_) return;
    ++building_;
    lock.unlock();
    // Created without the lock: a Take() does not wait for a VM being built.
    Result<EmptyVm> vm = CreateEmptyVm(vcpus_, ram_);
    lock.lock();
    --building_;
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
