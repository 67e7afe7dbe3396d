// Watching the lab's QEMU: its CPU use, to tell a stalled L1 from a slow one, and its human
// monitor, to describe a stalled L1's CPU and interrupt state.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

namespace uvm::lab {

// QEMU's run time so far, all threads, in ns (the first field of each thread's schedstat).
uint64_t QemuRunNs(pid_t pid);

// Sends one command to QEMU's human monitor on `fd` and returns what it printed up to the next
// prompt (at most 3 s; the vector registers left out). Only used to describe a stalled L1, so a
// short or missing answer is tolerated.
std::string AskMonitor(int fd, const std::string& command);

// An L1 that is alive uses QEMU's CPU all the time: its timers, at idle, cost QEMU about 2 ms of
// run time per second. The lab has wedged with QEMU using none at all (the vCPU thread asleep,
// the main loop waiting forever: L1 halted and no interrupt coming). That is told apart from a
// slow L1 by QEMU's run time over a window.
class StallDetector {
 public:
  static constexpr auto kWindow = std::chrono::seconds(20);
  static constexpr uint64_t kMaxStalledNs = 2'000'000;  // an idle L1 uses ~45 ms per window

  explicit StallDetector(pid_t pid) : pid_(pid) {}

  // Samples QEMU's run time; true if it grew by less than kMaxStalledNs over the last window.
  bool Stalled(std::chrono::steady_clock::time_point now) {
    samples_.push_back({now, QemuRunNs(pid_)});
    while (samples_.size() > 1 && now - samples_[1].at >= kWindow) samples_.pop_front();
    // The sum can drop when one of QEMU's worker threads exits (its run time leaves with it);
    // that is activity, not a stall.
    const uint64_t first = samples_.front().run_ns, last = samples_.back().run_ns;
    return now - samples_.front().at >= kWindow && last >= first && last - first < kMaxStalledNs;
  }
  void Reset() { samples_.clear(); }

 private:
  struct Sample {
    std::chrono::steady_clock::time_point at;
    uint64_t run_ns;
  };
  pid_t pid_;
  std::deque<Sample> samples_;
};

}  // namespace uvm::lab
