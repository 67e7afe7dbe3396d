// `uvm bench`: side-by-side measurements of uvm and QEMU's microvm machine in the same environment
// (DESIGN.md §9). Medians over repeated, interleaved runs, and the ratio.
#pragma once

#include <string>

#include "base/result.h"

namespace uvm::cli {

struct BenchOptions {
  bool json = false;
  int runs = 10;
  std::string kernel;  // default: <dir of uvm>/images/vmlinux
  std::string initrd;  // default: <dir of uvm>/images/test-initramfs.cpio.gz
};

// Time from starting the VMM process until it exits because the guest's init, as its first act in
// user space, wrote to the debug-exit port (both VMMs end there; teardown is included for both).
Result<int> RunBenchBoot(const BenchOptions& options);

}  // namespace uvm::cli
