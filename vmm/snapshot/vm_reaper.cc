#include "vmm/snapshot/vm_reaper.h"

#include <sys/resource.h>
#include <unistd.h>

namespace uvm::vmm::snapshot {
namespace {

// Background work yields the CPU to the thread restoring a clone (nice 10 for this thread only:
// on Linux, setpriority on a thread id applies to that thread). Failure only costs latency.
void LowerThreadPriority() { (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10); }

}  // namespace

VmReaper::VmReaper(int threads) {
  for (int i = 0; i < (threads < 1 ? 1 : threads); ++i) threads_.emplace_back([this] { Loop(); });
}

VmReaper::~VmReaper() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  for (auto& t : threads_) t.join();
}

void VmReaper::Destroy(std::unique_ptr<Machine> machine) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(machine));
  }
  changed_.notify_all();
}

void VmReaper::Drain() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return queue_.empty() && busy_ == 0; });
}

void VmReaper::Loop() {
  LowerThreadPriority();
  std::unique_lock lock(mu_);
  while (true) {
    changed_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    // Stopping still destroys what is queued: nothing handed over is leaked.
    if (queue_.empty()) return;
    std::unique_ptr<Machine> m = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    m.reset();
    lock.lock();
    --busy_;
    changed_.notify_all();
  }
}

}  // namespace uvm::vmm::snapshot
