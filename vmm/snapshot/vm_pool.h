// A small pool of pre-created empty VMs (ARCHITECTURE.md "Templates and clones"): KVM_CREATE_VM,
// the irqchip and PIT, the vCPUs and their run areas are made on a background thread, so a restore
// starts from a VM that only needs memory and state.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "vmm/snapshot/snapshot.h"

namespace uvm::vmm::snapshot {

class VmPool {
 public:
  // Starts `threads` refill threads, which keep `capacity` VMs of one shape (a template's: vCPU
  // count and guest RAM layout) ready. Creating a VM mostly waits in the kernel (the memory slot
  // waits for an SRCU grace period), so two threads make VMs about twice as fast as one.
  static std::unique_ptr<VmPool> Start(int vcpus, std::vector<RegionSpec> ram, size_t capacity,
                                       int threads = 2);
  ~VmPool();
  VmPool(const VmPool&) = delete;
  VmPool& operator=(const VmPool&) = delete;

  // The next ready VM; waits for the refill thread when the pool is empty. An error if creating
  // VMs failed (the pool stops refilling then).
  Result<EmptyVm> Take();
  // Blocks until the pool is full (or refilling failed).
  void WaitFull();

 private:
  VmPool(int vcpus, std::vector<RegionSpec> ram, size_t capacity)
      : vcpus_(vcpus), ram_(std::move(ram)), capacity_(capacity) {}
  void Refill();

  const int vcpus_;
  const std::vector<RegionSpec> ram_;
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<EmptyVm> ready_;
  std::optional<Error> failed_;
  bool stop_ = false;
  size_t building_ = 0;  // VMs being created right now
  std::vector<std::thread> threads_;
};

}  // namespace uvm::vmm::snapshot
