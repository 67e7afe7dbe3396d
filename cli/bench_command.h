// `uvm bench`: side-by-side measurements of uvm and QEMU's microvm machine in the same environment
// (DESIGN.md §9). Medians over repeated, interleaved runs, and the ratio.
#pragma once

#include <string>

#include "base/result.h"

namespace uvm::cli {

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

}  // namespace uvm::cli
