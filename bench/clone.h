// `uvm bench clone` (issue 5): `uvm run` as a copy-on-write clone of a template beside `uvm run
// --cold`, to the container's first byte of output, and the memory an idle clone makes its own.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/result.h"

namespace uvm::bench {

struct BenchCloneOptions {
  bool json = false;
  int runs = 5;
};

// In a scratch --root: `uvm template create` (untimed), then `runs` of each of `uvm run busybox
// echo hi` (clone) and `uvm run --cold busybox echo hi` (boot), alternating, each timed to the
// first byte on stdout and to exit; then one idle clone's memory from /proc/PID/smaps.
Result<int> RunBenchClone(const BenchCloneOptions& options);

// What the mappings of one file take in a process, from the text of /proc/PID/smaps (kB).
struct FileMappingUsage {
  int vmas = 0;               // mappings whose path is the file's
  uint64_t rss_kb = 0;        // resident pages of those mappings
  uint64_t anonymous_kb = 0;  // of which private copies (copy-on-write pages written)
};
// Sums the `Rss:` and `Anonymous:` lines of every mapping of `path` (a mapping of the file after
// it was unlinked, "PATH (deleted)", counts too).
FileMappingUsage FileMappingUsageFromSmaps(std::string_view smaps, std::string_view path);

// The value in kB of the `key:` line (e.g. "Anonymous") of /proc/PID/smaps_rollup text, or an
// error when there is none.
Result<uint64_t> SmapsRollupKb(std::string_view rollup, std::string_view key);

}  // namespace uvm::bench
