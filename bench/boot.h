// `uvm bench`: side-by-side measurements of uvm and QEMU's microvm machine in the same environment
// (docs/benchmarks.md, "Method"). Medians over repeated, interleaved runs, and the ratio.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "bench/util.h"

namespace uvm::bench {

struct BenchOptions {
  bool json = false;
  int runs = 20;
  std::string kernel;  // default: <dir of uvm>/images/vmlinux
  std::string initrd;  // default: <dir of uvm>/images/test-initramfs.cpio.gz
};

// Time from starting the VMM process until the marker the guest's init writes to the serial console
// as its first act in user space arrives on the VMM's stdout (both VMMs relay the console there).
// The time to process exit after the guest powers off is reported beside it.
Result<int> RunBenchBoot(const BenchOptions& options);

// uvm's side of `uvm bench boot`: `uvm boot` of `guest` with 256 MiB and one vCPU, as this binary.
std::vector<std::string> UvmBootBenchArgv(const BenchGuest& guest);
// One such boot: ms from starting the process to the guest init's marker on its console; an error
// unless the marker came and the process exited 0.
Result<double> TimeUvmBootToInit(const BenchGuest& guest);

}  // namespace uvm::bench
