// One run of `uvm bench fs` (bench/fs.h): boots one VMM with the fs benchmark init
// (images/test-init/fsbench_mode.h) and a shared directory tagged "bench", and collects each
// phase's figures and the VMM's CPU time from the console (bench/io_run.h).
#pragma once

#include <string>

#include "base/result.h"
#include "bench/io_run.h"
#include "bench/util.h"

namespace uvm::bench {

// uvm's in-process virtio-fs; QEMU microvm with Debian's C virtiofsd behind vhost-user-fs (guest
// memory from a shared memfd, which vhost-user needs); QEMU microvm with its in-process virtio-9p.
enum class FsVmm { kUvm, kQemuVirtiofsd, kQemu9p };

struct FsRunConfig {
  BenchGuest guest;
  std::string share;     // holds scratch/ (empty) and tree/ (read)
  std::string scratch;   // where virtiofsd's socket goes
  int memory_mib = 512;  // the sequential file fits in neither the guest's cache nor its memory
  int mib = 256;
  int files = 10000;
};

// The guest's phases, in the order it runs them.
inline constexpr const char* kFsPhases[] = {"seq_write", "seq_read", "small", "tree_stat",
                                            "tree_read"};

inline constexpr char kVirtiofsd[] = "/usr/lib/qemu/virtiofsd";
// virtiofsd's options: its default cache mode, errors only on stderr.
inline constexpr char kVirtiofsdOptions[] = "cache=auto,log_level=err";
// The 9p device's backend: files with the guest's owners and modes, as uvm's passthrough.
inline constexpr char kQemu9pOptions[] = "security_model=passthrough";

Result<IoRunResult> RunFsGuest(FsVmm vmm, const FsRunConfig& config);

}  // namespace uvm::bench
