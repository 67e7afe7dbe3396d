// One run of `uvm bench io` (bench/io.h): boots one VMM with the io benchmark init
// (images/test-init/iobench_mode.h), serves the guest's vsock connections, and collects each
// phase's figures from the console together with the VMM's CPU time during the phase. The console
// reading is shared with `uvm bench fs` (bench/fs_run.h), whose guest speaks the same lines.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>

#include "base/result.h"
#include "bench/util.h"

namespace uvm::bench {

// kQemuMicrovmVhostNet runs the net phases only, with QEMU's in-kernel vhost-net data path.
enum class IoVmm { kUvm, kQemuMicrovm, kQemuMicrovmVhostNet };

struct IoRunConfig {
  BenchGuest guest;
  std::string disk;     // the raw image both VMMs use
  std::string scratch;  // where the uvm run's vsock unix sockets go
  int memory_mib = 256;
  int mib = 64;  // sequential bytes and random span
  int secs = 3;  // each random phase
  int threads = 8;
  int vsock_mib = 64;  // each direction
  int net_mib = 64;    // each direction over the tap (bench/net.h); 0: no net phases
};

// The guest's phases, in the order it runs them.
inline constexpr const char* kIoPhases[] = {"seq_write", "seq_read",  "rand_read", "rand_write",
                                            "vsock_g2h", "vsock_h2g", "net_g2h",   "net_h2g"};

struct PhaseResult {
  double bytes = 0;
  double ops = 0;
  // Guest-timed for the block phases; host-timed (accept to EOF, or to the guest's
  // acknowledgement of EOF) for the vsock and net phases.
  double seconds = 0;
  // The VMM's own CPU time between the guest's start and result lines: utime + stime of every
  // thread minus the time spent running the guest (guest_time), plus the vhost worker kthreads
  // the kernel runs for the process (QEMU's vhost-vsock and vhost-net data paths; uvm has none).
  double vmm_cpu_seconds = 0;
};

// Phase name -> result, for every phase the guest ran.
using IoRunResult = std::map<std::string, PhaseResult>;

Result<IoRunResult> RunIoGuest(IoVmm vmm, const IoRunConfig& config);

// The VMM's own CPU seconds so far (see PhaseResult::vmm_cpu_seconds).
double VmmCpuSeconds(pid_t pid);
// utime + stime of a whole process, every thread, in seconds (a helper daemon such as virtiofsd,
// which runs no guest).
double ProcessCpuSeconds(pid_t pid);

// What a benchmark guest printed in the UVMIO console protocol (iobench_mode.h) until its VMM
// exited: each phase's figures, with `cpu()` (the VMM's CPU seconds so far) sampled at the
// phase's start and result lines.
struct PhaseLog {
  IoRunResult phases;
  std::string error;   // the guest's first error line
  std::string tail;    // the last console line
  bool ended = false;  // the guest printed its end line
  int status = 0;      // the VMM's raw wait status
};
// Reads `p`'s stdout to EOF, then reaps it.
Result<PhaseLog> CollectPhases(const Spawned& p, const std::function<double()>& cpu);

// The phases of a run, or why it failed: the guest's error, or the VMM (`who`) ended otherwise
// than by the guest's power-off (uvm exits 0; QEMU through isa-debug-exit 1).
Result<IoRunResult> FinishedPhases(PhaseLog log, const std::string& who, bool qemu);

// The VMM options that make the block device comparable: QEMU's host page cache
// (cache=writeback) and thread-pool I/O match uvm, which opens the image without O_DIRECT and
// submits through libaio (buffered libaio completes inside io_submit).
inline constexpr char kQemuDriveOptions[] = "format=raw,if=none,cache=writeback,aio=threads";

// QEMU's net device on the bench tap; vhost=off is QEMU's userspace virtio-net, as uvm's is.
std::string QemuNetdev(bool vhost);

}  // namespace uvm::bench
