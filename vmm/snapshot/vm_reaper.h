// Destroys finished VMs on background threads. Closing a VM fd with an in-kernel irqchip and PIT
// blocks for 20-45 ms while using about 0.3 ms of CPU (measured on the development host: the
// kernel waits for grace periods before freeing the VM), so a clone's teardown is handed here
// instead of stalling the thread that starts the next clone; several threads overlap the waits.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "vmm/machine.h"

namespace uvm::vmm::snapshot {

class VmReaper {
 public:
  explicit VmReaper(int threads = 4);
  // Waits until every machine handed over is destroyed.
  ~VmReaper();
  VmReaper(const VmReaper&) = delete;
  VmReaper& operator=(const VmReaper&) = delete;

  void Destroy(std::unique_ptr<Machine> machine);
  // Blocks until the queue is empty and no machine is being destroyed.
  void Drain();

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::unique_ptr<Machine>> queue_;
  int busy_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace uvm::vmm::snapshot
