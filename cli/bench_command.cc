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

#include "cli/boot_command.h"
#include "cli/file_util.h"
#include "vmm/host_probe.h"

extern char** environ;

namespace uvm::cli {
namespace {

constexpr char kBenchCmdline[] = "quiet uvmtest=bench";

struct Timed {
  int status;
  double ms;
};

// Runs argv with stdin and stdout on /dev/null (stderr kept for diagnostics) and times it.
Result<Timed> TimeProcess(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  auto start = std::chrono::steady_clock::now();
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return ErrnoErr("starting " + argv[0], rc);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoErr("waitpid");
  }
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
  if (!WIFEXITED(status))
    return Err(argv[0] + " was killed by signal " + std::to_string(WTERMSIG(status)));
  return Timed{WEXITSTATUS(status), ms.count()};
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
  std::vector<double> uvm_ms, qemu_ms;
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
      uvm_ms.push_back(u.ms);
      qemu_ms.push_back(q.ms);
    }
  }
  const double um = Median(uvm_ms), qm = Median(qemu_ms);
  if (o.json) {
    nlohmann::json j = {{"benchmark", "boot"},
                        {"runs", o.runs},
                        {"uvm", {{"median_ms", um}, {"runs_ms", uvm_ms}}},
                        {"qemu_microvm", {{"median_ms", qm}, {"runs_ms", qemu_ms}}},
                        {"ratio", um / qm}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("boot: VMM start -> guest init in user space (median of %d runs)\n", o.runs);
    std::printf("  %-14s %10.1f ms\n", "uvm", um);
    std::printf("  %-14s %10.1f ms\n", "qemu microvm", qm);
    std::printf("  %-14s %10.2f x  (uvm / qemu; target <= 0.50)\n", "ratio", um / qm);
  }
  return 0;
}

}  // namespace uvm::cli
