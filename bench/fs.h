// `uvm bench fs`: a host directory shared with a guest, uvm's in-process virtio-fs side by side
// with QEMU microvm and Debian's virtiofsd (vhost-user-fs) and QEMU's virtio-9p, on the same
// kernel, directory and environment: sequential write and read, small files, and a walk and a read
// of a Debian root filesystem tree; the VMM's CPU time beside each figure. Medians over interleaved
// runs.
#pragma once

#include <string>

#include "base/result.h"

namespace uvm::bench {

struct FsBenchOptions {
  bool json = false;
  int runs = 3;
  std::string kernel;        // default: <dir of uvm>/images/vmlinux
  std::string initrd;        // default: <dir of uvm>/images/test-initramfs.cpio.gz
  std::string dir = "/run";  // the shared directory's parent (tmpfs: the host disk stays out)
  std::string tree;          // a tar of the tree; default <dir of uvm>/images/debian-rootfs.tar
  int mib = 256;             // the sequential file, MiB
  int files = 10000;         // the small-file phase
  std::string only = "uvm,virtiofsd,9p";  // the systems measured
};

Result<int> RunBenchFs(const FsBenchOptions& options);

}  // namespace uvm::bench
