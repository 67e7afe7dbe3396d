// `uvm bench restore`: snapshot restore latency and clone rate, directly on /dev/kvm with a tiny
// guest (vmm/testing/probe_guest.h), no Linux guest and no lab needed.
#pragma once

#include <cstdint>

#include "base/result.h"

namespace uvm::bench {

struct BenchRestoreOptions {
  bool json = false;
  int runs = 500;
  uint32_t memory_mib = 256;
  int pool = 4;
};

// Saves a snapshot of a 256 MiB tiny guest that has touched some of its memory, then restores it
// `runs` times into VMs from a pool refilled on a background thread. Reports the restore latency
// (start of restore -> the vCPU has executed the next guest instruction) and clones per second.
Result<int> RunBenchRestore(const BenchRestoreOptions& options);

}  // namespace uvm::bench
