#include "bench/boot.h"

#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "bench/util.h"
#include "runtime/paths.h"

namespace uvm::bench {
namespace {

constexpr char kBenchCmdline[] = "quiet uvmtest=bench";

constexpr char kMarker[] = "UVMBENCH";

struct Timed {
  int status;
  double marker_ms;  // start -> the guest's marker on the VMM's stdout
  double exit_ms;    // start -> the VMM process exited
};

// Starts argv with stdout on a pipe, times the arrival of kMarker on stdout and the process exit.
// Both VMMs relay the guest's serial console to stdout unchanged, so the marker is measured the
// same way for each.
Result<Timed> TimeProcess(const std::vector<std::string>& argv) {
  UVM_TRY(TimedRun run, TimeRun(argv, kMarker));
  if (!WIFEXITED(run.status)) {
    return Err(argv[0] + " was killed by signal " + std::to_string(WTERMSIG(run.status)));
  }
  if (run.marker_ms < 0) return Err(argv[0] + ": the guest's marker never appeared on its console");
  return Timed{WEXITSTATUS(run.status), run.marker_ms, run.exit_ms};
}

}  // namespace

std::vector<std::string> UvmBootBenchArgv(const BenchGuest& guest) {
  return {"/proc/self/exe", "boot",     "--kernel", guest.kernel, "--initrd",
          guest.initrd,     "--memory", "256",      "--cmdline",  kBenchCmdline};
}

Result<double> TimeUvmBootToInit(const BenchGuest& guest) {
  UVM_TRY(Timed t, TimeProcess(UvmBootBenchArgv(guest)));
  if (t.status != 0) return Err("uvm boot exited " + std::to_string(t.status) + " (expected 0)");
  return t.marker_ms;
}

Result<int> RunBenchBoot(const BenchOptions& o) {
  if (o.runs < 1 || o.runs > 1000) return Err("--runs must be 1 to 1000");
  UVM_TRY(BenchGuest guest, ResolveBenchGuest(o.kernel, o.initrd, "boot"));
  const std::string full_cmdline = std::string(runtime::kBaseCmdline) + " " + kBenchCmdline;
  const std::vector<std::string> uvm_argv = UvmBootBenchArgv(guest);
  // QEMU's microvm with the same kernel (PVH entry), initrd, command line, memory and vCPUs.
  const std::vector<std::string> qemu_argv = QemuMicrovmArgv(guest, full_cmdline, 256, "", {});
  std::vector<double> uvm_ms, qemu_ms, uvm_exit_ms, qemu_exit_ms;
  // Runs come in blocks (uvm, QEMU, uvm, QEMU), each block starting with an unmeasured warm-up.
  // Strict interleaving was tried first: in the lab, a run right after the other VMM's run is
  // slowed by the memory that run leaves behind (measured: uvm 0.85 s after uvm, 1.4-1.9 s after
  // QEMU), which is neither VMM's own cost. Two blocks each still spread drift over both.
  auto run_block = [&](const std::vector<std::string>& argv, int expected, int count,
                       std::vector<double>& marker, std::vector<double>& exit) -> Result<void> {
    for (int i = -1; i < count; ++i) {
      UVM_TRY(Timed t, TimeProcess(argv));
      if (t.status != expected) {
        return Err(argv[0] + " exited " + std::to_string(t.status) + " (expected " +
                   std::to_string(expected) + ")");
      }
      if (i >= 0) {
        marker.push_back(t.marker_ms);
        exit.push_back(t.exit_ms);
      }
    }
    return {};
  };
  for (int block = 0; block < 2; ++block) {
    const int count = block == 0 ? (o.runs + 1) / 2 : o.runs / 2;
    if (count == 0) continue;
    UVM_CHECK(run_block(uvm_argv, 0, count, uvm_ms, uvm_exit_ms));
    // isa-debug-exit ends QEMU with status (0 << 1) | 1 = 1.
    UVM_CHECK(run_block(qemu_argv, 1, count, qemu_ms, qemu_exit_ms));
  }
  const double um = Median(uvm_ms), qm = Median(qemu_ms);
  const double ue = Median(uvm_exit_ms), qe = Median(qemu_exit_ms);
  if (o.json) {
    nlohmann::json j = {{"benchmark", "boot"},
                        {"runs", o.runs},
                        {"uvm",
                         {{"median_ms", um},
                          {"min_ms", Min(uvm_ms)},
                          {"max_ms", Max(uvm_ms)},
                          {"runs_ms", uvm_ms},
                          {"median_exit_ms", ue}}},
                        {"qemu_microvm",
                         {{"median_ms", qm},
                          {"min_ms", Min(qemu_ms)},
                          {"max_ms", Max(qemu_ms)},
                          {"runs_ms", qemu_ms},
                          {"median_exit_ms", qe}}},
                        {"ratio", um / qm}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("boot: VMM start -> guest init in user space (median of %d runs)\n", o.runs);
    std::printf("  %-14s %8.1f ms  (min %.1f, max %.1f; process exit after power-off %.1f)\n",
                "uvm", um, Min(uvm_ms), Max(uvm_ms), ue);
    std::printf("  %-14s %8.1f ms  (min %.1f, max %.1f; process exit after power-off %.1f)\n",
                "qemu microvm", qm, Min(qemu_ms), Max(qemu_ms), qe);
    std::printf("  %-14s %10.2f x  (uvm / qemu; target <= 0.50)\n", "ratio", um / qm);
  }
  return 0;
}

}  // namespace uvm::bench
