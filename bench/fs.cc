#include "bench/fs.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/fs.h"
#include "bench/fs_run.h"
#include "bench/util.h"
#include "runtime/paths.h"

namespace uvm::bench {
namespace {

// One figure of the report; every figure is "bigger is better".
struct Figure {
  const char* key;    // JSON key; "<key>_vmm_cpu" is its CPU figure
  const char* label;  // table row
  const char* phase;  // the guest phase (fsbench_mode.h)
  bool files;         // files per second (CPU per file) rather than MB/s (CPU per GiB)
};

constexpr Figure kFigures[] = {
    {"seq_write_mbps", "seq write (1 MiB writes)", "seq_write", false},
    {"seq_read_mbps", "seq read (1 MiB reads)", "seq_read", false},
    {"small_files_per_s", "create+stat+unlink 4 KiB", "small", true},
    {"tree_stat_files_per_s", "stat every file of tree", "tree_stat", true},
    {"tree_read_mbps", "read every file of tree", "tree_read", false},
};

constexpr FsVmm kSystems[] = {FsVmm::kUvm, FsVmm::kQemuVirtiofsd, FsVmm::kQemu9p};
constexpr const char* kSystemKeys[] = {"uvm", "qemu_virtiofsd", "qemu_9p"};
constexpr const char* kSystemNames[] = {"uvm", "virtiofsd", "9p"};  // --only's words
constexpr double kGiB = 1024.0 * 1024 * 1024;

double Throughput(const Figure& f, const PhaseResult& r) {
  if (r.seconds <= 0) return 0;
  return f.files ? r.ops / r.seconds : r.bytes / 1e6 / r.seconds;
}

// Work per second of the VMM's own CPU (GiB or files); infinite below one clock tick.
double PerCpuSecond(const Figure& f, const PhaseResult& r) {
  if (r.vmm_cpu_seconds <= 0) return INFINITY;
  return (f.files ? r.ops : r.bytes / kGiB) / r.vmm_cpu_seconds;
}

// For the table: VMM CPU in ms per GiB, or in µs per file.
std::string CpuCost(const Figure& f, double per_cpu_second) {
  if (std::isnan(per_cpu_second)) return "-";
  if (std::isinf(per_cpu_second)) return "<1 tick";
  char s[32];
  std::snprintf(s, sizeof s, "%.0f", (f.files ? 1e6 : 1e3) / per_cpu_second);
  return s;
}

using Runs = std::vector<IoRunResult>;  // one system's runs

double MedianOf(const Runs& runs, const Figure& f,
                double (*value)(const Figure&, const PhaseResult&)) {
  std::vector<double> v;
  for (const auto& r : runs) v.push_back(value(f, r.at(f.phase)));
  return v.empty() ? NAN : Median(v);
}

// In how many of the interleaved run rounds uvm beat `other` on `f`.
int RoundsAhead(const Runs& uvm, const Runs& other, const Figure& f) {
  int ahead = 0;
  for (size_t i = 0; i < uvm.size() && i < other.size(); ++i) {
    if (Throughput(f, uvm[i].at(f.phase)) > Throughput(f, other[i].at(f.phase))) ++ahead;
  }
  return ahead;
}

// --only's comma-separated words -> which of kSystems run.
Result<std::vector<bool>> SelectedSystems(const std::string& only) {
  std::vector<bool> on(std::size(kSystems), false);
  size_t start = 0;
  while (start <= only.size()) {
    const size_t comma = std::min(only.find(',', start), only.size());
    const std::string word = only.substr(start, comma - start);
    bool known = false;
    for (size_t s = 0; s < std::size(kSystems); ++s) {
      if (word == kSystemNames[s]) on[s] = known = true;
    }
    if (!known) return Err("--only: '" + word + "' is not one of uvm, virtiofsd, 9p");
    start = comma + 1;
  }
  return on;
}

std::string Cell(double v) {
  if (std::isnan(v)) return "-";
  char s[32];
  std::snprintf(s, sizeof s, "%.1f", v);
  return s;
}

std::string Ratio(double a, double b) {
  if (std::isnan(a) || std::isnan(b) || b <= 0) return "-";
  char s[32];
  std::snprintf(s, sizeof s, "%.2fx", a / b);
  return s;
}

// The share: scratch/ (written by the guest) and tree/ (the tar, unpacked with its owners).
Result<void> PrepareShare(const std::string& share, const std::string& tar) {
  if (access(tar.c_str(), R_OK) != 0) return ErrnoErr(tar + " (run `make images`)");
  UVM_CHECK(MakeDirs(share + "/scratch"));
  UVM_CHECK(MakeDirs(share + "/tree"));
  UVM_TRY(TimedRun r, TimeRun({"tar", "--numeric-owner", "-xf", tar, "-C", share + "/tree"}));
  if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
    return Err("unpacking " + tar + " failed");
  return {};
}

// Empties scratch/ between runs, whatever a failed guest left there.
Result<void> ResetScratch(const std::string& share) {
  UVM_CHECK(RemoveTree(share + "/scratch"));
  return MakeDirs(share + "/scratch");
}

}  // namespace

Result<int> RunBenchFs(const FsBenchOptions& o) {
  if (o.runs < 1 || o.runs > 100) return Err("--runs must be 1 to 100");
  if (o.mib < 1 || o.mib > 65536) return Err("--mib must be 1 to 65536");
  if (o.files < 1 || o.files > 1000000) return Err("--files must be 1 to 1000000");
  UVM_TRY(std::vector<bool> selected, SelectedSystems(o.only));
  UVM_TRY(BenchGuest guest, ResolveBenchGuest(o.kernel, o.initrd, "fs"));
  const std::string tar =
      o.tree.empty() ? runtime::BuiltinImagesDir() + "/debian-rootfs.tar" : o.tree;
  UVM_TRY(TempDir scratch, TempDir::Create(o.dir, "uvm-bench-fs-"));
  const std::string share = scratch.path() + "/share";
  UVM_CHECK(PrepareShare(share, tar));
  FsRunConfig config{guest, share, scratch.path(), 512, o.mib, o.files};

  // Rounds of one run of each system, so slow drift of the environment spreads over all three.
  std::vector<Runs> runs(std::size(kSystems));
  for (int i = 0; i < o.runs; ++i) {
    for (size_t s = 0; s < std::size(kSystems); ++s) {
      if (!selected[s]) continue;
      UVM_CHECK(ResetScratch(share));
      UVM_TRY(IoRunResult r, RunFsGuest(kSystems[s], config));
      // Progress on stderr, a line per run: a long benchmark shows it is moving, and a run that
      // never ends (the lab can stall) leaves the finished ones on record.
      std::string line = "fs: run " + std::to_string(i + 1) + " " + kSystemNames[s] + ":";
      for (const auto& f : kFigures) {
        if (!r.count(f.phase)) return Err(std::string("a run reported no ") + f.phase + " result");
        line += " " + std::string(f.key) + "=" + Cell(Throughput(f, r.at(f.phase)));
      }
      std::fprintf(stderr, "%s\n", line.c_str());
      runs[s].push_back(std::move(r));
    }
  }

  const std::string setup = "1 vCPU, 512 MiB, the share on " + o.dir + ", " +
                            std::to_string(o.mib) + " MiB sequential file, " +
                            std::to_string(o.files) + " small files, tree from " + tar;
  const std::string qemu_setup =
      std::string("virtiofsd: ") + kVirtiofsd + " -o " + kVirtiofsdOptions +
      ", vhost-user-fs-device, memory-backend-memfd share=on; 9p: "
      "-fsdev local," +
      kQemu9pOptions + ", virtio-9p-device, mounted msize=512000 cache=none";
  if (o.json) {
    nlohmann::json j = {
        {"benchmark", "fs"}, {"runs", o.runs}, {"setup", setup}, {"qemu", qemu_setup}};
    auto number = [](double v) {
      return std::isinf(v) || std::isnan(v) ? nlohmann::json() : nlohmann::json(v);
    };
    for (const auto& f : kFigures) {
      nlohmann::json figure = {{"unit", f.files ? "files/s" : "MB/s"},
                               {"uvm_ahead_of_virtiofsd_in_runs", RoundsAhead(runs[0], runs[1], f)},
                               {"uvm_ahead_of_9p_in_runs", RoundsAhead(runs[0], runs[2], f)}};
      nlohmann::json cpu = {
          {"unit", f.files ? "files per VMM CPU-second" : "GiB moved per VMM CPU-second"}};
      for (size_t s = 0; s < std::size(kSystems); ++s) {
        figure[kSystemKeys[s]] = number(MedianOf(runs[s], f, Throughput));
        cpu[kSystemKeys[s]] = number(MedianOf(runs[s], f, PerCpuSecond));
      }
      j[f.key] = figure;
      j[std::string(f.key) + "_vmm_cpu"] = cpu;
    }
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("fs: uvm vs QEMU microvm + virtiofsd vs QEMU microvm + 9p, median of %d runs each\n",
              o.runs);
  std::printf("(%s)\nQEMU: %s\n", setup.c_str(), qemu_setup.c_str());
  std::printf("%-26s %9s %9s %9s %7s %7s %7s  %s\n", "", "uvm", "virtiofsd", "9p", "unit", "/vfsd",
              "/9p", "ahead  VMM CPU uvm / vfsd / 9p");
  for (const auto& f : kFigures) {
    double t[3], c[3];
    for (size_t s = 0; s < 3; ++s) {
      t[s] = MedianOf(runs[s], f, Throughput);
      c[s] = MedianOf(runs[s], f, PerCpuSecond);
    }
    const std::string ahead =
        std::to_string(RoundsAhead(runs[0], runs[1], f)) + "/" + std::to_string(o.runs);
    std::printf("%-26s %9s %9s %9s %7s %7s %7s  %5s  %s / %s / %s %s\n", f.label,
                Cell(t[0]).c_str(), Cell(t[1]).c_str(), Cell(t[2]).c_str(),
                f.files ? "files/s" : "MB/s", Ratio(t[0], t[1]).c_str(), Ratio(t[0], t[2]).c_str(),
                ahead.c_str(), CpuCost(f, c[0]).c_str(), CpuCost(f, c[1]).c_str(),
                CpuCost(f, c[2]).c_str(), f.files ? "us/file" : "ms/GiB");
  }
  std::printf(
      "target: uvm >= 1.00x virtiofsd and >= 2x 9p on every figure. ahead: in how many rounds\n"
      "uvm beat virtiofsd. VMM CPU: utime + stime minus guest time of the VMM process (plus\n"
      "virtiofsd's process for that column); lower is better.\n");
  return 0;
}

}  // namespace uvm::bench
