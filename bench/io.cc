#include "bench/io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "base/unique_fd.h"
#include "bench/io_run.h"
#include "bench/net.h"
#include "bench/util.h"

namespace uvm::bench {
namespace {

// One figure of the report. Every figure is "bigger is better".
struct Figure {
  const char* key;    // JSON key of the throughput figure; "<key>_vmm_cpu" is its CPU figure
  const char* label;  // table row
  const char* phase;  // the guest phase it comes from (iobench_mode.h)
  bool iops;          // operations per second rather than MB/s
  bool net;           // measured only with --net-mib > 0; also against QEMU with vhost-net
};

constexpr Figure kFigures[] = {
    {"block_seq_write_mbps", "block seq write (1 MiB)", "seq_write", false, false},
    {"block_seq_read_mbps", "block seq read (1 MiB)", "seq_read", false, false},
    {"block_rand_read_iops", "block rand read (4 KiB)", "rand_read", true, false},
    {"block_rand_write_iops", "block rand write (4 KiB)", "rand_write", true, false},
    {"vsock_guest_to_host_mbps", "vsock guest -> host", "vsock_g2h", false, false},
    {"vsock_host_to_guest_mbps", "vsock host -> guest", "vsock_h2g", false, false},
    {"net_guest_to_host_mbps", "net TCP guest -> host", "net_g2h", false, true},
    {"net_host_to_guest_mbps", "net TCP host -> guest", "net_h2g", false, true},
};

constexpr char kNetSkipped[] = "not measured: --net-mib 0";

constexpr double kGiB = 1024.0 * 1024 * 1024;

double Throughput(const Figure& f, const PhaseResult& r) {
  if (r.seconds <= 0) return 0;
  return f.iops ? r.ops / r.seconds : r.bytes / 1e6 / r.seconds;
}

// GiB moved per second of the VMM's own CPU; infinite when the VMM used less than a clock tick.
double GibPerCpuSecond(const PhaseResult& r) {
  return r.vmm_cpu_seconds > 0 ? r.bytes / kGiB / r.vmm_cpu_seconds : INFINITY;
}

// A disk image of `mib` MiB, allocated up front (so no run pays for allocating it) and removed
// when the benchmark ends.
class ScratchDisk {
 public:
  static Result<ScratchDisk> Create(const std::string& dir, int mib) {
    ScratchDisk d;
    d.path_ = dir + "/uvm-bench-io-" + std::to_string(getpid()) + ".img";
    UniqueFd fd(open(d.path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoErr("creating the disk image " + d.path_ + " (see --dir)");
    if (int rc = posix_fallocate(fd.get(), 0, static_cast<off_t>(mib) << 20); rc != 0) {
      unlink(d.path_.c_str());
      return ErrnoErr("allocating " + std::to_string(mib) + " MiB for " + d.path_, rc);
    }
    return d;
  }
  ScratchDisk(ScratchDisk&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  ~ScratchDisk() {
    if (!path_.empty()) unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  ScratchDisk() = default;
  std::string path_;
};

// Every run of each system; `vhost` (QEMU with vhost-net, net phases only) may be empty.
struct Runs {
  std::vector<IoRunResult> uvm, qemu, vhost;
};

struct Medians {
  double uvm = 0, qemu = 0, vhost = 0;
};

Medians MedianOf(const Runs& runs, double (*value)(const Figure&, const PhaseResult&),
                 const Figure& f) {
  auto med = [&](const std::vector<IoRunResult>& of) {
    std::vector<double> v;
    for (const auto& r : of) v.push_back(value(f, r.at(f.phase)));
    return v.empty() ? 0.0 : Median(v);
  };
  return {med(runs.uvm), med(runs.qemu), f.net ? med(runs.vhost) : 0.0};
}

double CpuFigure(const Figure&, const PhaseResult& r) { return GibPerCpuSecond(r); }

// In how many of the alternating (uvm, QEMU) run pairs uvm's throughput was the higher: with the
// lab's run-to-run noise, a median ratio near 1.0 says little without it.
int PairsAhead(const Runs& runs, const Figure& f) {
  int ahead = 0;
  for (size_t i = 0; i < runs.uvm.size() && i < runs.qemu.size(); ++i) {
    if (Throughput(f, runs.uvm[i].at(f.phase)) > Throughput(f, runs.qemu[i].at(f.phase))) ++ahead;
  }
  return ahead;
}

// Milliseconds of VMM CPU per GiB, for the table (the JSON gives the inverse, bigger-is-better).
std::string CpuMsPerGib(double gib_per_cpu_s) {
  if (std::isinf(gib_per_cpu_s)) return "<1 tick";
  char s[32];
  std::snprintf(s, sizeof s, "%.0f", 1000.0 / gib_per_cpu_s);
  return s;
}

}  // namespace

Result<int> RunBenchIo(const IoBenchOptions& o) {
  if (o.runs < 1 || o.runs > 100) return Err("--runs must be 1 to 100");
  if (o.mib < 1 || o.mib > 65536) return Err("--mib must be 1 to 65536");
  if (o.secs < 1 || o.secs > 600) return Err("--secs must be 1 to 600");
  if (o.threads < 1 || o.threads > 256) return Err("--threads must be 1 to 256");
  if (o.vsock_mib < 1 || o.vsock_mib > 65536) return Err("--vsock-mib must be 1 to 65536");
  if (o.net_mib < 0 || o.net_mib > 65536) return Err("--net-mib must be 0 to 65536");
  UVM_TRY(BenchGuest guest, ResolveBenchGuest(o.kernel, o.initrd, "io"));
  UVM_TRY(ScratchDisk disk, ScratchDisk::Create(o.dir, o.mib));
  const bool net = o.net_mib > 0;
  // Before any thread exists: the namespace switch is per thread (bench_net.h).
  std::optional<BenchNetwork> network;
  if (net) {
    UVM_TRY(BenchNetwork n, BenchNetwork::Create());
    network.emplace(std::move(n));
  }
  const bool vhost = net && VhostNetAvailable();
  IoRunConfig config{guest,  disk.path(), o.dir,       256,      o.mib,
                     o.secs, o.threads,   o.vsock_mib, o.net_mib};

  // Alternating runs spread slow drift of the environment over the systems.
  Runs runs;
  for (int i = 0; i < o.runs; ++i) {
    UVM_TRY(IoRunResult u, RunIoGuest(IoVmm::kUvm, config));
    runs.uvm.push_back(std::move(u));
    UVM_TRY(IoRunResult q, RunIoGuest(IoVmm::kQemuMicrovm, config));
    runs.qemu.push_back(std::move(q));
    if (vhost) {
      UVM_TRY(IoRunResult v, RunIoGuest(IoVmm::kQemuMicrovmVhostNet, config));
      runs.vhost.push_back(std::move(v));
    }
  }
  std::vector<Figure> figures;
  for (const auto& f : kFigures) {
    if (!f.net || net) figures.push_back(f);
  }
  for (const auto* of : {&runs.uvm, &runs.qemu, &runs.vhost}) {
    for (const auto& r : *of) {
      for (const auto& f : figures) {
        if (of == &runs.vhost && !f.net) continue;
        if (!r.count(f.phase)) return Err(std::string("a run reported no ") + f.phase + " result");
      }
    }
  }

  std::string setup = "1 vCPU, 256 MiB, " + std::to_string(o.mib) + " MiB raw image in " + o.dir +
                      ", " + std::to_string(o.threads) + " random-I/O threads, " +
                      std::to_string(o.secs) + " s per random phase, " +
                      std::to_string(o.vsock_mib) + " MiB each way over vsock";
  if (net) {
    setup += ", " + std::to_string(o.net_mib) + " MiB each way over TCP on tap " + kBenchTap +
             " (" + kBenchHostIp + " host, " + kBenchGuestIp + " guest) in a network namespace";
  }
  std::string qemu_devices =
      std::string("virtio-blk-device (") + kQemuDriveOptions + "), vhost-vsock-device";
  if (net) qemu_devices += ", virtio-net-device (-netdev " + QemuNetdev(false) + ")";
  const std::string vhost_note =
      !net    ? ""
      : vhost ? "also against QEMU with vhost-net (-netdev " + QemuNetdev(true) + ")"
              : "QEMU with vhost-net not measured: no /dev/vhost-net here";
  if (o.json) {
    nlohmann::json j = {
        {"benchmark", "io"}, {"runs", o.runs}, {"setup", setup}, {"qemu_devices", qemu_devices}};
    if (net) j["qemu_vhost_net"] = vhost_note;
    auto number = [](double v) { return std::isinf(v) ? nlohmann::json() : nlohmann::json(v); };
    for (const auto& f : figures) {
      Medians t = MedianOf(runs, Throughput, f);
      j[f.key] = {{"uvm", t.uvm},
                  {"qemu_microvm", t.qemu},
                  {"unit", f.iops ? "IOPS" : "MB/s"},
                  {"uvm_ahead_in_runs", PairsAhead(runs, f)}};
      Medians c = MedianOf(runs, CpuFigure, f);
      j[std::string(f.key) + "_vmm_cpu"] = {{"uvm", number(c.uvm)},
                                            {"qemu_microvm", number(c.qemu)},
                                            {"unit", "GiB moved per VMM CPU-second"}};
      if (f.net && vhost) {
        j[f.key]["qemu_microvm_vhost_net"] = t.vhost;
        j[std::string(f.key) + "_vmm_cpu"]["qemu_microvm_vhost_net"] = number(c.vhost);
      }
    }
    if (!net) {
      for (const auto& f : kFigures) {
        if (f.net) j["not_measured"][f.key] = kNetSkipped;
      }
    }
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("io: uvm vs QEMU microvm, median of %d runs each (%s)\n", o.runs, setup.c_str());
  std::printf("QEMU devices: %s; uvm: virtio-blk (buffered libaio), userspace virtio-vsock%s\n",
              qemu_devices.c_str(), net ? ", userspace virtio-net on the same tap" : "");
  if (net) std::printf("%s\n", vhost_note.c_str());
  std::printf("%-26s %10s %10s %6s %8s %6s  %-17s\n", "", "uvm", "qemu", "unit", "uvm/qemu",
              "ahead", "VMM CPU ms/GiB uvm / qemu");
  for (const auto& f : figures) {
    Medians t = MedianOf(runs, Throughput, f);
    Medians c = MedianOf(runs, CpuFigure, f);
    const std::string ahead = std::to_string(PairsAhead(runs, f)) + "/" + std::to_string(o.runs);
    std::printf("%-26s %10.1f %10.1f %6s %7.2fx %6s  %8s / %s\n", f.label, t.uvm, t.qemu,
                f.iops ? "IOPS" : "MB/s", t.qemu > 0 ? t.uvm / t.qemu : 0.0, ahead.c_str(),
                CpuMsPerGib(c.uvm).c_str(), CpuMsPerGib(c.qemu).c_str());
    if (f.net && vhost) {
      std::printf("%-26s %10s %10.1f %6s %7.2fx %6s  %8s / %s\n", "  vs QEMU vhost-net", "",
                  t.vhost, "MB/s", t.vhost > 0 ? t.uvm / t.vhost : 0.0, "", "",
                  CpuMsPerGib(c.vhost).c_str());
    }
  }
  if (!net) std::printf("%-26s %s\n", "net", kNetSkipped);
  std::printf(
      "target: uvm/qemu >= 1.00 on every figure. ahead: in how many of the alternating\n"
      "(uvm, QEMU) run pairs uvm was faster. VMM CPU: utime + stime minus guest time\n"
      "of the VMM process, plus QEMU's vhost worker threads; lower is better.\n");
  return 0;
}

}  // namespace uvm::bench
