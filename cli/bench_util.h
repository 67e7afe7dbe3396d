// What the `uvm bench` subcommands share: finding the guest kernel and initrd, starting a VMM with
// its console on a pipe, QEMU microvm's command line, and medians.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace uvm::cli {

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

// QEMU's microvm machine (`-accel kvm`, no option ROMs, no RTC; `machine_extra` is appended to
// the -M options) with the kernel, initrd, command line, memory and one vCPU; the serial console
// on stdout and isa-debug-exit at uvm's debug-exit port 0xf4 (QEMU then exits (N << 1) | 1).
// `extra` is appended to the arguments.
std::vector<std::string> QemuMicrovmArgv(const BenchGuest& guest, const std::string& cmdline,
                                         int memory_mib, const std::string& machine_extra,
                                         const std::vector<std::string>& extra);

double Median(std::vector<double> v);
double Min(const std::vector<double>& v);
double Max(const std::vector<double>& v);

}  // namespace uvm::cli
