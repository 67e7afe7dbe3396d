#include "bench/restore.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/util.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/snapshot/vm_pool.h"
#include "vmm/snapshot/vm_reaper.h"
#include "vmm/testing/probe_guest.h"
#include "vmm/tiny_guest.h"

namespace uvm::bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace snap = vmm::snapshot;

// Pages the guest writes before the snapshot (4 MiB): the memory file then has real content to map.
constexpr uint32_t kTouchedPages = 1024;

constexpr char kTimedPath[] =
    "read + CRC + parse the state file, check it against the host, map `memory` MAP_PRIVATE over "
    "the slots' reservation, irqchip/PIT, vCPU state, kvmclock, KVM_RUN until the guest's next "
    "port write";
constexpr char kUntimedPath[] =
    "KVM_CREATE_VM, irqchip/PIT, vCPU creation, RAM reservation and memory slots (pool threads, "
    "concurrently), VM teardown (reaper threads, concurrently); clones/s counts everything from "
    "the "
    "first pool take until the last clone is destroyed";

// Closing a VM mostly waits for the kernel (vm_reaper.h); this many closes overlap.
constexpr int kReaperThreads = 4;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Saved {
  uint64_t state_bytes = 0;
  uint64_t memory_allocated = 0;
  double save_ms = 0;
};

Result<Saved> SaveTemplate(const BenchRestoreOptions& o, const std::string& dir) {
  vmm::TinyGuestOptions guest{.ram = uint64_t{o.memory_mib} << 20, .irqchip = true};
  UVM_TRY(auto machine,
          vmm::CreateTinyGuest(vmm::testing::TouchingGuestCode(kTouchedPages), guest));
  UVM_TRY(auto w, vmm::testing::RunUntilPortWrite(machine->vcpus[0]));
  if (!w || w->port != vmm::testing::kCheckpointPort)
    return Err("bench guest did not reach its checkpoint");
  Saved saved;
  auto start = Clock::now();
  UVM_CHECK(snap::SaveSnapshot(*machine, dir));
  saved.save_ms = Ms(Clock::now() - start);
  struct stat st {};
  if (::stat((dir + "/" + snap::kStateFile).c_str(), &st) == 0) saved.state_bytes = st.st_size;
  if (::stat((dir + "/" + snap::kMemoryFile).c_str(), &st) == 0) {
    saved.memory_allocated = uint64_t(st.st_blocks) * 512;
  }
  return saved;
}

// One clone: restore, then run to the guest's next port write, which must be the instruction after
// the one the snapshot was taken on.
struct Clone {
  std::unique_ptr<vmm::Machine> machine;
  double restore_ms;
};

Result<Clone> RestoreOnce(const std::string& dir, snap::EmptyVm vm) {
  auto start = Clock::now();
  UVM_TRY(auto machine, snap::RestoreSnapshot(dir, std::move(vm)));
  UVM_TRY(auto w, vmm::testing::RunUntilPortWrite(machine->vcpus[0]));
  double ms = Ms(Clock::now() - start);
  if (!w || w->port != vmm::testing::kResultPort) {
    return Err("the restored guest did not continue at the next instruction");
  }
  return Clone{std::move(machine), ms};
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

}  // namespace

Result<int> RunBenchRestore(const BenchRestoreOptions& o) {
  if (o.runs < 10) return Err("--runs must be at least 10");
  if (o.memory_mib < 64 || o.memory_mib > 3072) return Err("--memory must be 64..3072 MiB");
  if (o.pool < 1 || o.pool > 64) return Err("--pool must be 1..64");
  UVM_TRY(TempDir scratch, MakeScratchDir("restore"));
  const std::string& dir = scratch.path();

  UVM_TRY(Saved saved, SaveTemplate(o, dir));
  UVM_TRY(snap::MachineLayout layout, snap::ReadSnapshotLayout(dir));
  auto pool = snap::VmPool::Start(static_cast<int>(layout.vcpus), layout.regions,
                                  static_cast<size_t>(o.pool));
  pool->WaitFull();
  // Warm-up: page cache, KVM's caches, the allocator.
  for (int i = 0; i < 5; ++i) {
    UVM_TRY(auto vm, pool->Take());
    UVM_TRY(Clone clone, RestoreOnce(dir, std::move(vm)));
  }
  pool->WaitFull();

  std::vector<double> latency, wait, teardown;
  snap::VmReaper reaper(kReaperThreads);
  latency.reserve(static_cast<size_t>(o.runs));
  auto start = Clock::now();
  for (int i = 0; i < o.runs; ++i) {
    auto take = Clock::now();
    UVM_TRY(auto vm, pool->Take());
    wait.push_back(Ms(Clock::now() - take));
    UVM_TRY(Clone clone, RestoreOnce(dir, std::move(vm)));
    latency.push_back(clone.restore_ms);
    auto destroy = Clock::now();
    reaper.Destroy(std::move(clone.machine));
    teardown.push_back(Ms(Clock::now() - destroy));
  }
  reaper.Drain();  // every clone of the run destroyed before the clock stops
  const double wall_s = Ms(Clock::now() - start) / 1000;
  const double clones_per_s = o.runs / wall_s;
  const double p50 = Percentile(latency, 0.50), p99 = Percentile(latency, 0.99);
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);

  if (o.json) {
    nlohmann::json j = {{"benchmark", "restore"},
                        {"restore_p50_ms", p50},
                        {"restore_p99_ms", p99},
                        {"restore_min_ms", Percentile(latency, 0)},
                        {"restore_max_ms", Percentile(latency, 1)},
                        {"clones_per_s", clones_per_s},
                        {"pool_wait_p50_ms", Percentile(wait, 0.5)},
                        {"pool_wait_mean_ms", Mean(wait)},
                        {"teardown_handoff_mean_ms", Mean(teardown)},
                        {"runs", o.runs},
                        {"pool_size", o.pool},
                        {"guest_memory_mib", o.memory_mib},
                        {"state_bytes", saved.state_bytes},
                        {"memory_file_allocated_bytes", saved.memory_allocated},
                        {"save_ms", saved.save_ms},
                        {"host_cpus", cpus},
                        {"snapshot_dir", std::filesystem::path(dir).parent_path().string()},
                        {"timed", kTimedPath},
                        {"not_timed", kUntimedPath}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf(
        "restore: %u MiB tiny guest, snapshot in %s (state %llu bytes, memory file %.1f MiB "
        "allocated, saved in %.1f ms), %d restores, pool of %d, %ld host CPUs\n",
        o.memory_mib, std::filesystem::path(dir).parent_path().c_str(),
        static_cast<unsigned long long>(saved.state_bytes),
        static_cast<double>(saved.memory_allocated) / (1 << 20), saved.save_ms, o.runs, o.pool,
        cpus);
    std::printf(
        "  %-16s p50 %.3f ms  p99 %.3f ms  (min %.3f, max %.3f; target p50 <= 1, p99 <= 3)\n",
        "restore latency", p50, p99, Percentile(latency, 0), Percentile(latency, 1));
    std::printf(
        "  %-16s %.0f /s  (target >= 100/s; per clone: pool wait mean %.3f ms, "
        "teardown hand-off mean %.3f ms)\n",
        "clones", clones_per_s, Mean(wait), Mean(teardown));
    std::printf("  timed:     %s\n  not timed: %s\n", kTimedPath, kUntimedPath);
  }
  return 0;
}

}  // namespace uvm::bench
