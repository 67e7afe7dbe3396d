// `uvm bench io`: block, vsock and net (TCP over a tap) throughput of uvm side by side
// with QEMU's microvm machine and its virtio-mmio devices, on the same kernel, disk file and
// environment; the VMM's CPU time per GiB moved beside each figure. Medians over repeated runs.
#pragma once

#include <string>

#include "base/result.h"

namespace uvm::bench {

struct IoBenchOptions {
  bool json = false;
  int runs = 3;
  std::string kernel;        // default: <dir of uvm>/images/vmlinux
  std::string initrd;        // default: <dir of uvm>/images/test-initramfs.cpio.gz
  std::string dir = "/run";  // the disk image and unix sockets (tmpfs: the host disk stays out)
  int mib = 64;              // sequential transfer and random span, MiB
  int secs = 3;              // each random phase, seconds
  int threads = 8;           // random-I/O requests in flight
  int vsock_mib = 64;        // vsock bytes each way, MiB
  int net_mib = 64;          // TCP bytes each way over the bench tap, MiB; 0 skips net (no root)
};

Result<int> RunBenchIo(const IoBenchOptions& options);

}  // namespace uvm::bench
