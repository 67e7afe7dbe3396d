#include "bench/util.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>

#include "base/fs.h"
#include "runtime/paths.h"
#include "vmm/host_probe.h"

extern char** environ;

namespace uvm::bench {

Result<TempDir> MakeScratchDir(const std::string& name) {
  Error last{"no directory tried"};
  for (const char* base : {"/run", "/dev/shm", "/tmp"}) {
    auto dir = TempDir::Create(base, "uvm-bench-" + name + "-");
    if (dir) return dir;
    last = dir.error();
  }
  return Err(last.code, "creating a scratch directory for the benchmark: " + last.message);
}

Result<void> RequireBuiltinImages(const std::vector<std::string>& files) {
  for (const std::string& file : files) {
    const std::string path = runtime::BuiltinImagesDir() + "/" + file;
    if (::access(path.c_str(), R_OK) != 0) {
      return Err(ErrorCode::kNotFound, path + " is missing: run `make images`");
    }
  }
  return {};
}

Result<BenchGuest> ResolveBenchGuest(const std::string& kernel, const std::string& initrd,
                                     const std::string& subcommand) {
  const std::string images = runtime::BuiltinImagesDir();
  BenchGuest g{kernel.empty() ? images + "/vmlinux" : kernel,
               initrd.empty() ? images + "/test-initramfs.cpio.gz" : initrd};
  for (const auto& f : {g.kernel, g.initrd}) {
    if (access(f.c_str(), R_OK) != 0) return Err(f + " is missing: run `make images`");
  }
  // Probed afresh (not the remembered verdict): a benchmark is worth the 0.2 s.
  if (!vmm::ProbeHost().linux_direct()) {
    return Err(ErrorCode::kUnsupported,
               "this host's KVM cannot run Linux guests (see `uvm doctor`): run the benchmark in "
               "the lab, `uvm lab -- " +
                   SelfDir() + "/uvm bench " + subcommand + "`, or `make bench`");
  }
  return g;
}

Result<Spawned> SpawnWithStdoutPipe(const std::vector<std::string>& argv) {
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
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return ErrnoErr("starting " + argv[0], rc);
  return Spawned{pid, std::move(read_end)};
}

Result<int> WaitProcess(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoErr("waitpid");
  }
  return status;
}

Result<TimedRun> TimeRun(const std::vector<std::string>& argv, const std::string& marker) {
  const auto start = std::chrono::steady_clock::now();
  UVM_TRY(Spawned p, SpawnWithStdoutPipe(argv));
  auto since_start = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };
  TimedRun run;
  // The marker may arrive split over reads: search what came since the last miss, plus the
  // marker's length - 1 bytes before it.
  std::string window;
  char buf[4096];
  ssize_t n;
  while ((n = read(p.out.get(), buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    const double now = since_start();
    if (run.first_byte_ms < 0) run.first_byte_ms = now;
    const size_t got = static_cast<size_t>(n);
    if (run.output.size() < kTimedRunOutputLimit) {
      run.output.append(buf, std::min(got, kTimedRunOutputLimit - run.output.size()));
    }
    if (!marker.empty() && run.marker_ms < 0) {
      window.append(buf, got);
      if (window.find(marker) != std::string::npos) {
        run.marker_ms = now;
      } else if (window.size() >= marker.size()) {
        window.erase(0, window.size() - (marker.size() - 1));
      }
    }
  }
  UVM_TRY(run.status, WaitProcess(p.pid));
  run.exit_ms = since_start();
  return run;
}

std::vector<std::string> QemuMicrovmArgv(const BenchGuest& guest, const std::string& cmdline,
                                         int memory_mib, const std::string& machine_extra,
                                         const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"qemu-system-x86_64",
                                   "-M",
                                   "microvm,x-option-roms=off,rtc=off" + machine_extra,
                                   "-accel",
                                   "kvm",
                                   "-cpu",
                                   "host",
                                   "-smp",
                                   "1",
                                   "-m",
                                   std::to_string(memory_mib) + "M",
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
                                   guest.kernel,
                                   "-initrd",
                                   guest.initrd,
                                   "-append",
                                   cmdline};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double Min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
double Max(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

}  // namespace uvm::bench
