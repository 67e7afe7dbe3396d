#include "cli/bench_command.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/unique_fd.h"
#include "cli/boot_command.h"
#include "cli/file_util.h"
#include "vmm/host_probe.h"

extern char** environ;

namespace uvm::cli {
namespace {

constexpr char kBenchCmdline[] = "quiet uvmtest=bench";

constexpr char kMarker[] = "UVMBENCH";

struct Timed {
  int status;
  double marker_ms;  // start -> the guest's marker on the VMM's stdout
  double exit_ms;    // start -> the VMM process exited
};

// Starts argv with stdin on /dev/null and stdout on a pipe (stderr kept for diagnostics), times
// the arrival of kMarker on stdout and the process exit. Both VMMs relay the guest's serial
// console to stdout unchanged, so the marker is measured the same way for each.
Result<Timed> TimeProcess(const std::vector<std::string>& argv) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) < 0) return ErrnoErr("pipe");
  UniqueFd read_end(out[0]), write_end(out[1]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  pid_t pid;
  auto start = std::chrono::steady_clock::now();
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return ErrnoErr("starting " + argv[0], rc);
  write_end.Reset();
  auto since_start = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };
  double marker_ms = -1;
  std::string seen;
  char buf[4096];
  ssize_t n;
  while ((n = read(read_end.get(), buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (marker_ms < 0) {
      seen.append(buf, static_cast<size_t>(n));
      if (seen.find(kMarker) != std::string::npos) marker_ms = since_start();
      if (seen.size() > 1 << 20) seen.erase(0, seen.size() - 64);
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoErr("waitpid");
  }
  double exit_ms = since_start();
  if (!WIFEXITED(status)) {
    return Err(argv[0] + " was killed by signal " + std::to_string(WTERMSIG(status)));
  }
  if (marker_ms < 0) return Err(argv[0] + ": the guest's marker never appeared on its console");
  return Timed{WEXITSTATUS(status), marker_ms, exit_ms};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

Result<int> RunBenchBoot(const BenchOptions& o) {
  if (o.runs < 1 || o.runs > 1000) return Err("--runs must be 1 to 1000");
  const std::string dir = SelfDir();
  const std::string kernel = o.kernel.empty() ? dir + "/images/vmlinux" : o.kernel;
  const std::string initrd = o.initrd.empty() ? dir + "/images/test-initramfs.cpio.gz" : o.initrd;
  for (const auto& f : {kernel, initrd}) {
    if (access(f.c_str(), R_OK) != 0) return Err(f + " is missing: run `make images`");
  }
  vmm::HostProbe probe = vmm::ProbeHost();
  if (!probe.linux_direct()) {
    return Err(
        "this host's KVM cannot run Linux guests (see `uvm doctor`): run the benchmark in "
        "the lab, `uvm lab -- " +
        dir + "/uvm bench boot`, or `make bench`");
  }
  const std::string full_cmdline = std::string(kDefaultCmdline) + " " + kBenchCmdline;
  const std::vector<std::string> uvm_argv = {"/proc/self/exe", "boot",       "--kernel", kernel,
                                             "--initrd",       initrd,       "--memory", "256",
                                             "--cmdline",      kBenchCmdline};
  // QEMU's microvm with the same kernel (PVH entry), initrd, command line, memory and vCPUs.
  // isa-debug-exit at the same port ends QEMU with status (0 << 1) | 1 = 1.
  const std::vector<std::string> qemu_argv = {"qemu-system-x86_64",
                                              "-M",
                                              "microvm,x-option-roms=off,rtc=off",
                                              "-accel",
                                              "kvm",
                                              "-cpu",
                                              "host",
                                              "-smp",
                                              "1",
                                              "-m",
                                              "256M",
                                              "-nodefaults",
                                              "-no-user-config",
                                              "-display",
                                              "none",
                                              "-no-reboot",
                                              "-serial",
                                              "stdio",
                                              "-device",
                                              "isa-debug-exit,iobase=0xf4,iosize=1",
                                              "-kernel",
                                              kernel,
                                              "-initrd",
                                              initrd,
                                              "-append",
                                              full_cmdline};
  std::vector<double> uvm_ms, qemu_ms, uvm_exit_ms, qemu_exit_ms;
  // Interleaved, after one unmeasured warm-up of each, so drift and cache state hit both alike.
  for (int i = -1; i < o.runs; ++i) {
    UVM_TRY(Timed u, TimeProcess(uvm_argv));
    if (u.status != 0) return Err("uvm boot exited " + std::to_string(u.status) + " (expected 0)");
    UVM_TRY(Timed q, TimeProcess(qemu_argv));
    if (q.status != 1) {
      return Err("qemu-system-x86_64 exited " + std::to_string(q.status) +
                 " (expected 1 from isa-debug-exit; is qemu-system-x86 installed?)");
    }
    if (i >= 0) {
      uvm_ms.push_back(u.marker_ms);
      qemu_ms.push_back(q.marker_ms);
      uvm_exit_ms.push_back(u.exit_ms);
      qemu_exit_ms.push_back(q.exit_ms);
    }
  }
  const double um = Median(uvm_ms), qm = Median(qemu_ms);
  const double ue = Median(uvm_exit_ms), qe = Median(qemu_exit_ms);
  if (o.json) {
    nlohmann::json j = {
        {"benchmark", "boot"},
        {"runs", o.runs},
        {"uvm", {{"median_ms", um}, {"runs_ms", uvm_ms}, {"median_exit_ms", ue}}},
        {"qemu_microvm", {{"median_ms", qm}, {"runs_ms", qemu_ms}, {"median_exit_ms", qe}}},
        {"ratio", um / qm}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("boot: VMM start -> guest init in user space (median of %d runs)\n", o.runs);
    std::printf("  %-14s %10.1f ms   (process exit after power-off: %.1f ms)\n", "uvm", um, ue);
    std::printf("  %-14s %10.1f ms   (process exit after power-off: %.1f ms)\n", "qemu microvm",
                qm, qe);
    std::printf("  %-14s %10.2f x  (uvm / qemu; target <= 0.50)\n", "ratio", um / qm);
  }
  return 0;
}

}  // namespace uvm::cli
