// What the `uvm bench` subcommands share: finding the guest kernel and initrd, starting a VMM with
// its console on a pipe and timing its output, QEMU microvm's command line, and medians.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "base/fs.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace uvm::bench {

// A fresh directory for one benchmark run, on tmpfs where templates and uvm's runtime state live:
// /run/uvm-bench-NAME-XXXXXX (or /dev/shm, /tmp). As a --root, the built-in image's import (and a
// template) are the benchmark's own and nothing of the user's store is touched. Removed with the
// object.
Result<TempDir> MakeScratchDir(const std::string& name);

// The built-in images a benchmark needs (file names in runtime::BuiltinImagesDir()), checked
// readable.
Result<void> RequireBuiltinImages(const std::vector<std::string>& files);

struct BenchGuest {
  std::string kernel;
  std::string initrd;
};

// The kernel and initrd (defaults: the built ones beside the uvm binary), checked readable, and a
// check that this host's KVM runs Linux (else the error says to use the lab with `subcommand`).
Result<BenchGuest> ResolveBenchGuest(const std::string& kernel, const std::string& initrd,
                                     const std::string& subcommand);

// A started process whose stdout is `out` (stdin /dev/null, stderr inherited).
struct Spawned {
  pid_t pid = -1;
  UniqueFd out;
};
Result<Spawned> SpawnWithStdoutPipe(const std::vector<std::string>& argv);

// waitpid without EINTR; the raw status.
Result<int> WaitProcess(pid_t pid);

// One run of a process with its stdout on a pipe, timed on the monotonic clock from just before
// the spawn. Times are -1 when the event never happened.
struct TimedRun {
  int status = 0;             // waitpid's raw status
  double first_byte_ms = -1;  // the first byte on stdout
  double marker_ms = -1;      // the first complete `marker` on stdout
  double exit_ms = -1;        // the process exited (after its stdout reached EOF)
  std::string output;         // stdout's first kTimedRunOutputLimit bytes
};
inline constexpr size_t kTimedRunOutputLimit = 64 << 10;
Result<TimedRun> TimeRun(const std::vector<std::string>& argv, const std::string& marker = "");

// QEMU's microvm machine (`-accel kvm`, no option ROMs, no RTC; `machine_extra` is appended to
// the -M options) with the kernel, initrd, command line, memory and one vCPU; the serial console
// on stdout and isa-debug-exit at uvm's debug-exit port 0xf4 (QEMU then exits (N << 1) | 1).
// `extra` is appended to the arguments.
std::vector<std::string> QemuMicrovmArgv(const BenchGuest& guest, const std::string& cmdline,
                                         int memory_mib, const std::string& machine_extra,
                                         const std::vector<std::string>& extra);

double Median(std::vector<double> v);
// Nearest rank: the element at round(p * (n - 1)) of the sorted values, p in [0, 1]; v not empty.
double Percentile(std::vector<double> v, double p);
double Min(const std::vector<double>& v);
double Max(const std::vector<double>& v);

}  // namespace uvm::bench
