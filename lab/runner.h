// `uvm lab`: runs a host command inside the hardware-virtualization lab — QEMU software emulation
// with AMD SVM, a small L1 Linux kernel with kvm_amd, the host's root shared in over virtio-9p — so
// that a VMM inside gets real /dev/kvm semantics on hosts whose own /dev/kvm cannot run Linux
// guests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace uvm::lab {

struct LabOptions {
  std::vector<std::string> argv;  // the command to run inside the lab, in the caller's cwd
  uint64_t memory_mib = 4096;     // L1's RAM
  // L1's vCPUs. One by default: with two, QEMU's multi-threaded TCG lets L1's TSCs drift apart (L1
  // falls back to a jiffies clock) and nested guests under heavy I/O triple-fault now and then
  // (5 of 30 `uvm run`s of 50 MiB through a slow pipe; 0 of 15 with one vCPU, at the same speed).
  int cpus = 1;
  bool verbose = false;  // show the L1 console as it runs
  // Seconds after which QEMU is killed and the run fails with the L1 console's tail; 0: none.
  // A watchdog for L1 itself: it has wedged (console silent, the command's own timeouts never
  // firing) in the middle of a long e2e tier.
  int timeout_s = 0;
  std::string images_dir;  // holds lab/vmlinux... (default: <dir of uvm binary>/images)
};

// Runs argv inside the lab and returns its exit status (128+N if killed by signal N), or an error
// if the lab itself could not start or died before the command finished.
Result<int> RunInLab(const LabOptions& options);

}  // namespace uvm::lab
