// `uvm bench engine`: what an engine's user sees. `podman run --rm IMAGE true` (start to exit) and
// `podman run --rm IMAGE echo hi` (to the first output line) under runc, under uvm-runtime with
// process isolation and with VM isolation (a clone the run makes, and one a pool made ahead of
// time), interleaved round by round in one run; then the host memory (PSS) an idle `podman run
// -d IMAGE sleep` container costs under each: conmon and every process below it.
#pragma once

#include <sys/types.h>

#include <map>
#include <vector>

#include "base/result.h"

namespace uvm::bench {

struct BenchEngineOptions {
  bool json = false;
  int runs = 5;
};

Result<int> RunBenchEngine(const BenchEngineOptions& options);

// `root` and every process below it in `parent_of` (pid -> parent pid), root first.
std::vector<pid_t> ProcessTree(pid_t root, const std::map<pid_t, pid_t>& parent_of);

}  // namespace uvm::bench
