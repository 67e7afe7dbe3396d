#include "bench/engine.h"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "bench/clone.h"
#include "bench/exec.h"
#include "bench/util.h"
#include "runtime/host_check.h"
#include "runtime/paths.h"
#include "runtime/pool/client.h"
#include "store/image_store.h"

namespace uvm::bench {
namespace {

constexpr char kImage[] = "localhost/uvm-bench-engine";

// One runtime as podman is given it.
struct Variant {
  const char* name;  // the JSON key's stem
  const char* label;
  std::vector<std::string> runtime_flags;  // podman's --runtime and --runtime-flag words
  std::string pool_root;                   // a pool serves this uvm root ("" none)
  std::vector<double> start_ms, first_line_ms;
  double idle_pss_mib = -1;  // not measured
};

// The parent of every process, from /proc/PID/stat (field 4, after the command's last ')').
std::map<pid_t, pid_t> ParentsOfAll() {
  std::map<pid_t, pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (!proc) return out;
  while (dirent* e = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    auto stat = ReadToEndLimited("/proc/" + std::to_string(pid) + "/stat", 4096);
    if (!stat) continue;
    const size_t close = stat->rfind(')');
    if (close == std::string::npos || close + 4 >= stat->size()) continue;
    out[pid] = static_cast<pid_t>(std::atoi(stat->c_str() + close + 4));  // ") S PPID"
  }
  ::closedir(proc);
  return out;
}

// The PSS of `pid` in kB (0 when it is gone).
uint64_t PssKb(pid_t pid) {
  auto rollup = ReadToEndLimited("/proc/" + std::to_string(pid) + "/smaps_rollup", 1 << 16);
  if (!rollup) return 0;
  return SmapsRollupKb(*rollup, "Pss").value_or(0);
}

// Waits until the pool serving `root` has a VM ready of every shape it knows (it refills after
// each run it serves; the wait is not timed).
Result<void> WaitForPool(const std::string& root) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  for (;;) {
    UVM_TRY(runtime::PoolStatus status, runtime::QueryPool(root));
    bool ready = !status.shapes.empty();
    for (const auto& shape : status.shapes) {
      if (!shape.error.empty()) return Err("the pool cannot make VMs: " + shape.error);
      ready = ready && shape.ready >= 1;
    }
    if (ready) return {};
    if (std::chrono::steady_clock::now() > deadline) {
      return Err("the pool had no VM ready after 3 minutes");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

std::vector<pid_t> ProcessTree(pid_t root, const std::map<pid_t, pid_t>& parent_of) {
  std::vector<pid_t> out = {root};
  for (size_t i = 0; i < out.size(); ++i) {
    for (const auto& [pid, parent] : parent_of) {
      if (parent == out[i] && pid != root) out.push_back(pid);
    }
  }
  return out;
}

Result<int> RunBenchEngine(const BenchEngineOptions& o) {
  if (o.runs < 1 || o.runs > 1000) return Err("--runs must be 1 to 1000");
  if (::geteuid() != 0) return Err("bench engine runs podman as root: run it as root");
  const auto podman = FindInPath("podman");
  const auto runc = FindInPath("runc");
  if (!podman || !runc) return Err("bench engine needs podman and runc (make deps installs them)");
  UVM_CHECK(runtime::RequireLinuxGuests("uvm lab -- uvm bench engine"));
  UVM_CHECK(RequireBuiltinImages({"agent-initramfs.cpio.gz", store::kBusyboxRootfsFile}));
  UVM_TRY(TempDir scratch, MakeScratchDir("engine"));
  const std::string dir = scratch.path();
  const std::string self = "/proc/self/exe";
  const std::string uvm_runtime = SelfDir() + "/uvm-runtime";
  // conmon binds a terminal's socket in its TMPDIR, and the lab's /tmp cannot hold one.
  UVM_CHECK(WriteFileAtomic(dir + "/containers.conf",
                            "[engine]\nconmon_env_vars = [\"PATH=/usr/sbin:/usr/bin:/sbin:/bin\", "
                            "\"TMPDIR=" +
                                dir + "\"]\n"));
  auto podman_argv = [&](const std::vector<std::string>& runtime,
                         const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"env",
                                     "TMPDIR=" + dir,
                                     "CONTAINERS_CONF=" + dir + "/containers.conf",
                                     *podman,
                                     "--root",
                                     dir + "/storage",
                                     "--runroot",
                                     dir + "/run",
                                     "--storage-driver",
                                     "overlay",
                                     "--cgroup-manager",
                                     "cgroupfs",
                                     "--events-backend",
                                     "file"};
    argv.insert(argv.end(), runtime.begin(), runtime.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  };
  std::vector<Variant> variants = {
      {"runc", "runc", {"--runtime", *runc}, "", {}, {}, 0},
      {"uvm_process",
       "uvm-runtime, process isolation",
       {"--runtime", uvm_runtime, "--runtime-flag", "isolation=process", "--runtime-flag",
        "uvm-root=" + dir + "/uvm-process"},
       "",
       {},
       {},
       0},
      {"uvm_vm",
       "uvm-runtime, VM (cloned)",
       {"--runtime", uvm_runtime, "--runtime-flag", "uvm-root=" + dir + "/uvm-vm"},
       "",
       {},
       {},
       0},
      {"uvm_vm_pooled",
       "uvm-runtime, VM (pooled)",
       {"--runtime", uvm_runtime, "--runtime-flag", "uvm-root=" + dir + "/uvm-pool"},
       dir + "/uvm-pool",
       {},
       {},
       -1},  // not measured: its VM lives in the pool's process
  };

  UVM_TRY(TimedRun imported,
          TimeRun(podman_argv(
              {}, {"import", "--quiet",
                   runtime::BuiltinImagesDir() + "/" + store::kBusyboxRootfsFile, kImage})));
  UVM_CHECK(CheckExecRun("`podman import`", imported.status, imported.output, imported.output));
  // The pool is the benchmark's: it goes however the benchmark ends.
  const std::string pool_root = dir + "/uvm-pool";
  UVM_CHECK(MakeDirs(pool_root, 0700));
  UVM_TRY(TimedRun pool_started, TimeRun({self, "--root", pool_root, "pool", "start"}));
  UVM_CHECK(CheckExecRun("`uvm pool start`", pool_started.status, pool_started.output,
                         pool_started.output));
  struct PoolStopper {
    std::string self, root;
    ~PoolStopper() { (void)TimeRun({self, "--root", root, "pool", "stop"}); }
  } stopper{self, pool_root};

  auto run = [&](Variant& v, const std::vector<std::string>& command,
                 const std::string& want) -> Result<TimedRun> {
    if (!v.pool_root.empty()) UVM_CHECK(WaitForPool(v.pool_root));
    std::vector<std::string> args = {"run", "--rm", "--network", "none", kImage};
    args.insert(args.end(), command.begin(), command.end());
    UVM_TRY(TimedRun r, TimeRun(podman_argv(v.runtime_flags, args), want));
    UVM_CHECK(CheckExecRun(std::string("`podman run` with ") + v.label, r.status, r.output, want));
    return r;
  };
  // Untimed: one run of each (the VMs' templates are made; the pool learns the shape of a
  // podman container and fills it).
  for (Variant& v : variants) {
    if (!v.pool_root.empty()) {
      // The pool learns the shape from its first claim, which it misses.
      UVM_TRY(TimedRun first, TimeRun(podman_argv(v.runtime_flags, {"run", "--rm", "--network",
                                                                    "none", kImage, "true"})));
      UVM_CHECK(CheckExecRun("`podman run` with " + std::string(v.label), first.status, "", ""));
    }
    UVM_TRY(TimedRun warm, run(v, {"true"}, ""));
    (void)warm;
  }
  for (int i = 0; i < o.runs; ++i) {
    for (Variant& v : variants) {
      UVM_TRY(TimedRun t, run(v, {"true"}, ""));
      v.start_ms.push_back(t.exit_ms);
      UVM_TRY(TimedRun e, run(v, {"echo", "hi"}, "hi\n"));
      v.first_line_ms.push_back(e.marker_ms);
    }
  }
  UVM_TRY(runtime::PoolStatus pool, runtime::QueryPool(pool_root));
  uint64_t served = 0;
  for (const auto& shape : pool.shapes) served += shape.served;
  const uint64_t pooled_runs = 2 * static_cast<uint64_t>(o.runs) + 1;
  if (served < pooled_runs) {
    return Err("the pool served " + std::to_string(served) + " of the " +
               std::to_string(pooled_runs) + " pooled runs after the first");
  }

  // Idle memory: conmon and everything below it (runc: the container's own processes; uvm: the
  // keeper and its VM), in PSS, so pages shared between containers are split between them.
  for (Variant& v : variants) {
    // A pooled container's VM lives in the pool's process, among the VMs it keeps ready, not
    // under conmon: it has no share of its own to measure there (the cloned one's is the VM's).
    if (!v.pool_root.empty()) continue;
    const std::string name = std::string("idle-") + v.name;
    UVM_TRY(TimedRun started,
            TimeRun(podman_argv(v.runtime_flags, {"run", "-d", "--name", name, "--network", "none",
                                                  kImage, "sleep", "100000"})));
    UVM_CHECK(CheckExecRun("`podman run -d` with " + std::string(v.label), started.status,
                           started.output, started.output));
    std::this_thread::sleep_for(std::chrono::seconds(2));  // settled
    UVM_TRY(TimedRun conmon, TimeRun(podman_argv(v.runtime_flags, {"inspect", "--format",
                                                                   "{{.State.ConmonPid}}", name})));
    const pid_t conmon_pid = static_cast<pid_t>(std::atoi(conmon.output.c_str()));
    if (conmon_pid <= 0) return Err("podman inspect gave no conmon pid for " + name);
    uint64_t kb = 0;
    for (pid_t pid : ProcessTree(conmon_pid, ParentsOfAll())) kb += PssKb(pid);
    v.idle_pss_mib = static_cast<double>(kb) / 1024.0;
    (void)TimeRun(podman_argv(v.runtime_flags, {"rm", "--force", "--time", "0", name}));
  }

  const Variant& runc_v = variants[0];
  auto ratio = [&](const Variant& v) { return Median(v.start_ms) / Median(runc_v.start_ms); };
  if (o.json) {
    nlohmann::json j = {
        {"benchmark", "engine"},
        {"runs", o.runs},
        {"note",
         "*_start_ms: median ms from starting `podman run --rm --network none IMAGE true` to its "
         "exit; *_first_line_ms: to the first line of `echo hi`; runtimes interleaved round by "
         "round after one untimed run of each; uvm_vm: the runtime clones the template itself, "
         "uvm_vm_pooled: `uvm pool` restored the clone ahead of time (waited for, untimed); "
         "idle_pss_mib: PSS of conmon and every process below it for `podman run -d IMAGE "
         "sleep` (null for the pooled VM, which lives in the pool's process)"},
        {"vm_vs_runc", ratio(variants[2])},
        {"pooled_vs_runc", ratio(variants[3])},
        {"process_vs_runc", ratio(variants[1])},
    };
    for (const Variant& v : variants) {
      j[std::string(v.name) + "_start_ms"] = Median(v.start_ms);
      j[std::string(v.name) + "_first_line_ms"] = Median(v.first_line_ms);
      j[std::string(v.name) + "_start_runs_ms"] = v.start_ms;
      j[std::string(v.name) + "_first_line_runs_ms"] = v.first_line_ms;
      j["idle_pss_mib"][v.name] =
          v.idle_pss_mib < 0 ? nlohmann::json(nullptr) : nlohmann::json(v.idle_pss_mib);
    }
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf(
      "engine: `podman run --rm --network none busybox true` (start to exit) and `echo hi` "
      "(to its line), %d interleaved rounds\n",
      o.runs);
  std::printf("  %-34s %9s %9s %9s %12s %9s\n", "", "start", "min", "max", "first line",
              "idle PSS");
  for (const Variant& v : variants) {
    std::printf("  %-34s %6.0f ms %6.0f ms %6.0f ms %9.0f ms", v.label, Median(v.start_ms),
                Min(v.start_ms), Max(v.start_ms), Median(v.first_line_ms));
    if (v.idle_pss_mib < 0) {
      std::printf("  (in the pool)\n");
    } else {
      std::printf(" %5.1f MiB\n", v.idle_pss_mib);
    }
  }
  std::printf(
      "  VM (cloned) / runc %.2f, VM (pooled) / runc %.2f (target <= 1.5); process / runc "
      "%.2f (target <= 1.1)\n",
      ratio(variants[2]), ratio(variants[3]), ratio(variants[1]));
  std::printf("  runs (start, ms):\n");
  for (const Variant& v : variants) {
    std::printf("    %-32s", v.label);
    for (double ms : v.start_ms) std::printf(" %6.0f", ms);
    std::printf("\n");
  }
  return 0;
}

}  // namespace uvm::bench
