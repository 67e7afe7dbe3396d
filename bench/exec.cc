#include "bench/exec.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/quoted.h"
#include "bench/boot.h"
#include "bench/util.h"
#include "runtime/paths.h"
#include "store/image_store.h"

namespace uvm::bench {
namespace {

struct Samples {
  std::vector<double> true_exit, echo_first_byte, echo_exit, boot_to_init;
};

struct Figure {
  const char* key;  // the JSON name, without _ms
  const char* label;
  const std::vector<double>* ms;
};

}  // namespace

Result<void> CheckExecRun(const std::string& name, int status, const std::string& output,
                          const std::string& expected_output) {
  if (WIFSIGNALED(status)) {
    return Err(name + " was killed by signal " + std::to_string(WTERMSIG(status)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Err(name + " exited " + std::to_string(WEXITSTATUS(status)) +
               " (expected 0; its stderr is above)");
  }
  if (output != expected_output) {
    return Err(name + " printed " + Quoted(output) + " (expected " + Quoted(expected_output) + ")");
  }
  return {};
}

Result<int> RunBenchExec(const BenchExecOptions& o) {
  if (o.runs < 1 || o.runs > 1000) return Err("--runs must be 1 to 1000");
  // The boot column's kernel and initrd, and whether this host's KVM runs Linux at all.
  UVM_TRY(BenchGuest guest, ResolveBenchGuest("", "", "exec"));
  UVM_CHECK(RequireBuiltinImages({"agent-initramfs.cpio.gz", store::kBusyboxRootfsFile}));
  UVM_TRY(TempDir root, MakeScratchDir("exec"));

  // --cold: this benchmark is about the boot path, whatever `uvm run` defaults to.
  auto run_argv = [&](std::vector<std::string> command) {
    std::vector<std::string> argv = {"/proc/self/exe", "--root", root.path(), "run",
                                     "--cold",         "busybox"};
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
  };
  const std::vector<std::string> true_argv = run_argv({"true"});
  const std::vector<std::string> echo_argv = run_argv({"echo", "hi"});

  auto time_true = [&]() -> Result<double> {
    UVM_TRY(TimedRun r, TimeRun(true_argv));
    UVM_CHECK(CheckExecRun("`uvm run busybox true`", r.status, r.output, ""));
    return r.exit_ms;
  };
  auto time_echo = [&](Samples* s) -> Result<void> {
    UVM_TRY(TimedRun r, TimeRun(echo_argv));
    UVM_CHECK(CheckExecRun("`uvm run busybox echo hi`", r.status, r.output, "hi\n"));
    if (s) {
      s->echo_first_byte.push_back(r.first_byte_ms);
      s->echo_exit.push_back(r.exit_ms);
    }
    return {};
  };

  // Untimed: imports the built-in busybox into the scratch store.
  UVM_TRY(double import_ms, time_true());
  (void)import_ms;

  // As in `uvm bench boot`: blocks of one kind of run, each after an unmeasured warm-up (a run is
  // slowed by what the previous, different one left behind), two rounds to spread drift.
  Samples s;
  for (int block = 0; block < 2; ++block) {
    const int count = block == 0 ? (o.runs + 1) / 2 : o.runs / 2;
    if (count == 0) continue;
    for (int i = -1; i < count; ++i) {
      UVM_TRY(double ms, time_true());
      if (i >= 0) s.true_exit.push_back(ms);
    }
    for (int i = -1; i < count; ++i) UVM_CHECK(time_echo(i >= 0 ? &s : nullptr));
    for (int i = -1; i < count; ++i) {
      UVM_TRY(double ms, TimeUvmBootToInit(guest));
      if (i >= 0) s.boot_to_init.push_back(ms);
    }
  }

  const Figure figures[] = {
      {"true_exit", "run true: exit", &s.true_exit},
      {"echo_first_byte", "run echo hi: first byte", &s.echo_first_byte},
      {"echo_exit", "run echo hi: exit", &s.echo_exit},
      {"boot_to_init", "boot to init (uvm boot)", &s.boot_to_init},
  };
  if (o.json) {
    nlohmann::json j = {{"benchmark", "exec"}, {"runs", o.runs}, {"cold", true}};
    for (const Figure& f : figures) {
      const std::string key = f.key;
      j[key + "_ms"] = Median(*f.ms);
      j[key + "_p90_ms"] = Percentile(*f.ms, 0.9);
      j[key + "_runs_ms"] = *f.ms;
    }
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf(
        "exec: `uvm run --cold busybox CMD` from process start, beside `uvm boot` of the same "
        "kernel (256 MiB, 1 vCPU) to init; %d runs each\n",
        o.runs);
    std::printf("  %-26s %9s %9s %9s %9s\n", "", "median", "p90", "min", "max");
    for (const Figure& f : figures) {
      std::printf("  %-26s %6.1f ms %6.1f ms %6.1f ms %6.1f ms\n", f.label, Median(*f.ms),
                  Percentile(*f.ms, 0.9), Min(*f.ms), Max(*f.ms));
    }
    const double boot = Median(s.boot_to_init);
    std::printf("  %-26s %6.1f ms (echo first byte - boot to init)\n", "uvm run beyond boot",
                Median(s.echo_first_byte) - boot);
  }
  return 0;
}

}  // namespace uvm::bench
