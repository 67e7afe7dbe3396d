// `uvm bench exec`: how long `uvm run` takes from the user's command to the container's first
// byte of output and to its exit, on the cold-boot path, beside the time to boot the same kernel
// to init (docs/benchmarks.md, "Method").
#pragma once

#include <string>

#include "base/result.h"

namespace uvm::bench {

struct BenchExecOptions {
  bool json = false;
  int runs = 10;
};

// Times `uvm --root SCRATCH run --cold busybox true` and `... busybox echo hi` as child processes,
// and `uvm boot` of the bench guest (as `uvm bench boot` does), in interleaved blocks. SCRATCH is a
// fresh store under /run, removed at the end; the busybox import happens in an untimed warm-up.
Result<int> RunBenchExec(const BenchExecOptions& options);

// Whether one timed `uvm run` did what it was asked: exited 0 (raw wait `status`) and printed
// exactly `expected_output` on stdout. The error names the run and says what it did instead.
Result<void> CheckExecRun(const std::string& name, int status, const std::string& output,
                          const std::string& expected_output);

}  // namespace uvm::bench
