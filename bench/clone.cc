#include "bench/clone.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench/exec.h"
#include "bench/qemu_restore.h"
#include "bench/util.h"
#include "runtime/paths.h"
#include "runtime/pool/client.h"
#include "store/image_store.h"

namespace uvm::bench {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// "   1234 kB" -> 1234; anything else -> 0.
uint64_t KbValue(std::string_view v) {
  v = Trim(v);
  uint64_t n = 0;
  size_t i = 0;
  for (; i < v.size() && v[i] >= '0' && v[i] <= '9'; ++i) n = n * 10 + (v[i] - '0');
  return i == 0 ? 0 : n;
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return ErrnoErr("reading " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

double Mib(uint64_t kb) { return static_cast<double>(kb) / 1024.0; }

struct IdleCloneMemory {
  FileMappingUsage template_memory;
  uint64_t process_anonymous_kb = 0;
};

// Starts a clone that runs `true`, says "ready" and idles; once "ready" is on its stdout, reads
// the uvm process's smaps, then kills it (the clone is the benchmark's: nothing to keep).
Result<IdleCloneMemory> MeasureIdleClone(const std::string& root, const std::string& memory_file) {
  UVM_TRY(Spawned p, SpawnWithStdoutPipe({"/proc/self/exe", "--root", root, "run", "--no-pool",
                                          "busybox", "sh", "-c", "true; echo ready; sleep 30"}));
  auto reap = [&] {
    ::kill(p.pid, SIGKILL);
    (void)WaitProcess(p.pid);
  };
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (out.find("ready\n") == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      reap();
      return Err("the idle clone did not print \"ready\" within 60 s");
    }
    pollfd pfd{p.out.get(), POLLIN, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    char buf[256];
    ssize_t n = ::read(p.out.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      reap();
      return Err("the idle clone ended before printing \"ready\" (its stderr is above)");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  const std::string proc = "/proc/" + std::to_string(p.pid);
  auto smaps = ReadWholeFile(proc + "/smaps");
  auto rollup = ReadWholeFile(proc + "/smaps_rollup");
  reap();
  if (!smaps) return tl::unexpected(smaps.error());
  if (!rollup) return tl::unexpected(rollup.error());
  IdleCloneMemory m;
  m.template_memory = FileMappingUsageFromSmaps(*smaps, memory_file);
  if (m.template_memory.vmas == 0) {
    return Err("the idle clone does not map " + memory_file + ": did `uvm run` boot instead?");
  }
  UVM_TRY(m.process_anonymous_kb, SmapsRollupKb(*rollup, "Anonymous"));
  return m;
}

}  // namespace

FileMappingUsage FileMappingUsageFromSmaps(std::string_view smaps, std::string_view path) {
  FileMappingUsage u;
  bool in_file = false;
  while (!smaps.empty()) {
    const size_t eol = smaps.find('\n');
    std::string_view line = smaps.substr(0, eol);
    smaps.remove_prefix(eol == std::string_view::npos ? smaps.size() : eol + 1);
    const size_t first_space = line.find_first_of(" \t");
    const std::string_view first = line.substr(0, first_space);
    if (first.empty()) continue;
    if (first.back() == ':') {  // "Key:   N kB" of the current mapping
      if (!in_file) continue;
      const std::string_view value = line.substr(first.size());
      if (first == "Rss:") u.rss_kb += KbValue(value);
      if (first == "Anonymous:") u.anonymous_kb += KbValue(value);
      continue;
    }
    // A mapping's header: "start-end perms offset dev inode   [path]"; the path may hold spaces.
    std::string_view rest = line;
    for (int field = 0; field < 5; ++field) {
      rest = Trim(rest);
      const size_t sp = rest.find_first_of(" \t");
      rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp);
    }
    rest = Trim(rest);
    constexpr std::string_view kDeleted = " (deleted)";
    if (rest.size() > kDeleted.size() && rest.substr(rest.size() - kDeleted.size()) == kDeleted) {
      rest.remove_suffix(kDeleted.size());
    }
    in_file = !path.empty() && rest == path;
    if (in_file) ++u.vmas;
  }
  return u;
}

Result<uint64_t> SmapsRollupKb(std::string_view rollup, std::string_view key) {
  while (!rollup.empty()) {
    const size_t eol = rollup.find('\n');
    std::string_view line = rollup.substr(0, eol);
    rollup.remove_prefix(eol == std::string_view::npos ? rollup.size() : eol + 1);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':') {
      return KbValue(line.substr(key.size() + 1));
    }
  }
  return Err("no " + std::string(key) + ": line in smaps_rollup");
}

Result<int> RunBenchClone(const BenchCloneOptions& o) {
  if (o.runs < 1 || o.runs > 1000) return Err("--runs must be 1 to 1000");
  // Whether this host's KVM runs Linux (else: use the lab), and the bench boot guest for QEMU.
  UVM_TRY(BenchGuest guest, ResolveBenchGuest("", "", "clone"));
  UVM_CHECK(RequireBuiltinImages({"agent-initramfs.cpio.gz", store::kBusyboxRootfsFile}));
  UVM_TRY(TempDir root, MakeScratchDir("clone"));
  const std::string self = "/proc/self/exe";

  // Untimed: the template, then one run of each kind (the busybox import; caches warmed).
  // The template `uvm run busybox` clones: the default shape, prepared for busybox.
  UVM_TRY(TimedRun created,
          TimeRun({self, "--root", root.path(), "template", "create", "--image", "busybox"}));
  UVM_CHECK(CheckExecRun("`uvm template create`", created.status, "", ""));
  const std::string key = created.output.substr(0, created.output.find_first_of(" \n"));
  const std::string memory_file = root.path() + "/templates/" + key + "/memory";
  if (key.empty() || ::access(memory_file.c_str(), R_OK) != 0) {
    return Err("`uvm template create` printed " + created.output + " but " + memory_file +
               " is not there");
  }

  // Three kinds, alternating: a clone the pool restored ahead of time (`uvm pool start`), a
  // clone made by the run itself (--no-pool), a boot. Each pooled run is followed by two others,
  // which gives the pool the time it needs to make a replacement.
  const std::vector<std::string> pooled_argv = {self,      "--root", root.path(), "run",
                                                "busybox", "echo",   "hi"};
  const std::vector<std::string> clone_argv = {self,        "--root",  root.path(), "run",
                                               "--no-pool", "busybox", "echo",      "hi"};
  const std::vector<std::string> cold_argv = {self,     "--root",  root.path(), "run",
                                              "--cold", "busybox", "echo",      "hi"};
  std::vector<double> pooled_first, pooled_exit, clone_first, clone_exit, cold_first, cold_exit;
  auto time_one = [](const std::vector<std::string>& argv, const char* name,
                     std::vector<double>* first, std::vector<double>* exit) -> Result<void> {
    UVM_TRY(TimedRun r, TimeRun(argv));
    UVM_CHECK(CheckExecRun(name, r.status, r.output, "hi\n"));
    if (first) first->push_back(r.first_byte_ms);
    if (exit) exit->push_back(r.exit_ms);
    return {};
  };
  constexpr char kPooledName[] = "`uvm run busybox echo hi` (pooled)";
  constexpr char kCloneName[] = "`uvm run --no-pool busybox echo hi`";
  constexpr char kColdName[] = "`uvm run --cold busybox echo hi`";
  UVM_CHECK(time_one(clone_argv, kCloneName, nullptr, nullptr));
  UVM_CHECK(time_one(cold_argv, kColdName, nullptr, nullptr));
  UVM_TRY(TimedRun pool_started,
          TimeRun({self, "--root", root.path(), "pool", "start", "--size", "2", "busybox"}));
  UVM_CHECK(CheckExecRun("`uvm pool start busybox`", pool_started.status, "", ""));
  // The pool is the benchmark's: it goes however the benchmark ends.
  struct PoolStopper {
    std::string self, root;
    ~PoolStopper() { (void)TimeRun({self, "--root", root, "pool", "stop"}); }
  } stopper{self, root.path()};
  UVM_CHECK(time_one(pooled_argv, kPooledName, nullptr, nullptr));
  UVM_CHECK(time_one(cold_argv, kColdName, nullptr, nullptr));
  for (int i = 0; i < o.runs; ++i) {
    UVM_CHECK(time_one(pooled_argv, kPooledName, &pooled_first, &pooled_exit));
    UVM_CHECK(time_one(clone_argv, kCloneName, &clone_first, &clone_exit));
    UVM_CHECK(time_one(cold_argv, kColdName, &cold_first, &cold_exit));
  }
  UVM_TRY(runtime::PoolStatus pool, runtime::QueryPool(root.path()));
  uint64_t pool_served = 0, pool_missed = 0;
  for (const auto& shape : pool.shapes) {
    pool_served += shape.served;
    pool_missed += shape.missed;
  }
  // Each pooled run (and the warm-up) must have had its VM from the pool: a miss is a direct clone.
  if (pool_missed > 0 || pool_served != static_cast<uint64_t>(o.runs) + 1) {
    return Err("the pool served " + std::to_string(pool_served) + " and missed " +
               std::to_string(pool_missed) + " of the " + std::to_string(o.runs + 1) +
               " pooled runs");
  }

  UVM_TRY(IdleCloneMemory mem, MeasureIdleClone(root.path(), memory_file));
  const QemuRestoreResult qemu = TimeQemuRestore(guest, 256, o.runs);

  const double clone_ms = Median(clone_first), cold_ms = Median(cold_first);
  const double pooled_ms = Median(pooled_first);
  const double speedup = cold_ms / clone_ms;
  const double pooled_speedup = cold_ms / pooled_ms;
  const double private_mib = Mib(mem.template_memory.anonymous_kb);
  const double shared_mib = Mib(mem.template_memory.rss_kb - mem.template_memory.anonymous_kb);
  if (o.json) {
    nlohmann::json j = {
        {"benchmark", "clone"},
        {"runs", o.runs},
        {"note",
         "clone_ms/no_pool_clone_ms/cold_ms: median ms from starting `uvm run busybox echo hi` "
         "to the first byte on its stdout (the *_exit_ms: to its exit), with a VM from `uvm "
         "pool` (a clone restored ahead of time: what the clone design with its pool gives), "
         "with --no-pool (the run restores its own clone) and with --cold (a boot); runs "
         "alternating, after an untimed `uvm template create`, `uvm pool start --size 2 "
         "busybox` and one untimed run of each; every pooled run got its VM from the pool "
         "(pool_served); memory: /proc/PID/smaps of an idle --no-pool clone (after `true`) over "
         "the mappings of the template's memory file: Anonymous = private copy-on-write pages, "
         "Rss - Anonymous = shared page-cache pages"},
        {"clone_ms", pooled_ms},
        {"no_pool_clone_ms", clone_ms},
        {"cold_ms", cold_ms},
        {"clone_vs_cold_speedup", pooled_speedup},
        {"no_pool_clone_vs_cold_speedup", speedup},
        {"clone_exit_ms", Median(pooled_exit)},
        {"no_pool_clone_exit_ms", Median(clone_exit)},
        {"cold_exit_ms", Median(cold_exit)},
        {"clone_runs_ms", pooled_first},
        {"no_pool_clone_runs_ms", clone_first},
        {"cold_runs_ms", cold_first},
        {"pool_served", pool_served},
        {"private_mib_per_clone", private_mib},
        {"shared_mib_per_clone", shared_mib},
        {"uvm_process_anon_mib", Mib(mem.process_anonymous_kb)},
        {"template_memory_vmas", mem.template_memory.vmas},
        {"qemu_restore_ms", qemu.ms ? nlohmann::json(*qemu.ms) : nlohmann::json(nullptr)},
        {"qemu_restore_note", qemu.note},
        {"clone_vs_qemu_restore",
         qemu.ms ? nlohmann::json(pooled_ms / *qemu.ms) : nlohmann::json(nullptr)},
        {"no_pool_clone_vs_qemu_restore",
         qemu.ms ? nlohmann::json(clone_ms / *qemu.ms) : nlohmann::json(nullptr)},
    };
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf(
        "clone: `uvm run busybox echo hi` with a pooled clone, with --no-pool (the run restores "
        "the clone) and with --cold (a boot), 256 MiB, 1 vCPU; %d alternating runs each\n",
        o.runs);
    std::printf("  %-28s %9s %9s %9s %9s\n", "", "median", "p90", "min", "max");
    auto row = [](const char* label, const std::vector<double>& v) {
      std::printf("  %-28s %6.1f ms %6.1f ms %6.1f ms %6.1f ms\n", label, Median(v),
                  Percentile(v, 0.9), Min(v), Max(v));
    };
    row("clone (pooled): first byte", pooled_first);
    row("clone (pooled): exit", pooled_exit);
    row("clone --no-pool: first byte", clone_first);
    row("clone --no-pool: exit", clone_exit);
    row("cold: first byte", cold_first);
    row("cold: exit", cold_exit);
    std::printf("  %-28s %8.1f x  (cold / pooled clone, first byte; target >= 10)\n",
                "speedup, pooled", pooled_speedup);
    std::printf("  %-28s %8.1f x  (cold / clone, first byte)\n", "speedup, --no-pool", speedup);
    if (qemu.ms) {
      std::printf(
          "  %-28s %6.1f ms  (pooled / qemu = %.2f, --no-pool / qemu = %.2f; target <= "
          "0.2)\n",
          "qemu microvm restore", *qemu.ms, pooled_ms / *qemu.ms, clone_ms / *qemu.ms);
      std::printf("    (%s)\n", qemu.note.c_str());
    } else {
      std::printf("  %-28s %9s  (%s)\n", "qemu microvm restore", "n/a", qemu.note.c_str());
    }
    std::printf("idle clone (after `true`), template memory mappings (%d):\n",
                mem.template_memory.vmas);
    std::printf("  %-28s %6.2f MiB (Anonymous: copy-on-write copies; target <= 3)\n", "private",
                private_mib);
    std::printf("  %-28s %6.2f MiB (Rss - Anonymous: page cache)\n", "shared", shared_mib);
    std::printf("  %-28s %6.2f MiB (smaps_rollup Anonymous of the uvm process)\n",
                "whole process anonymous", Mib(mem.process_anonymous_kb));
  }
  return 0;
}

}  // namespace uvm::bench
