// QEMU's side of `uvm bench clone` (issue 5): QEMU microvm restoring a saved guest from a
// migration file (`-incoming "exec:cat FILE"`) to the guest's next console output.
#pragma once

#include <optional>
#include <string>

#include "bench/util.h"

namespace uvm::bench {

struct QemuRestoreResult {
  std::optional<double> ms;  // median over the runs; none when it could not be measured
  std::string note;          // what was timed, or why nothing was
};

// Boots QEMU microvm with `guest` (the test init in its `tick` mode: a console line every 5 ms)
// and `memory_mib`, migrates it to a file once it ticks, then `runs` times starts QEMU with
// `-incoming "exec:cat FILE"` and times it to the first tick on its console. Never fails: a
// problem is reported in `note`, with no number.
QemuRestoreResult TimeQemuRestore(const BenchGuest& guest, int memory_mib, int runs);

}  // namespace uvm::bench
