#include "lab/qemu.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <cerrno>
#include <vector>

#include "base/fs.h"
#include "lab/protocol.h"

namespace uvm::lab {
namespace {

namespace fs = std::filesystem;

constexpr char kQemu[] = "qemu-system-x86_64";

// L1 calibrates its TSC against the emulated PIT, and on a busy host that fails ("Fast TSC
// calibration failed"): L1 then has tsc_khz = 0, with which its KVM spins inside KVM_RUN forever.
// Under TCG the guest's TSC is the host's TSC, so its rate is measured here and given to L1
// (tsc_early_khz=). Each sample brackets RDTSC by the clock and keeps the tightest bracket, so a
// preemption between the two reads does not skew the rate.
uint64_t HostTscKhz() {
  auto sample = [](double& ns, uint64_t& tsc) {
    double best = 1e18;
    for (int i = 0; i < 5; ++i) {
      timespec a, b;
      clock_gettime(CLOCK_MONOTONIC_RAW, &a);
      uint64_t t = __rdtsc();
      clock_gettime(CLOCK_MONOTONIC_RAW, &b);
      double na = a.tv_sec * 1e9 + a.tv_nsec, nb = b.tv_sec * 1e9 + b.tv_nsec;
      if (nb - na < best) best = nb - na, ns = (na + nb) / 2, tsc = t;
    }
  };
  double ns0 = 0, ns1 = 0;
  uint64_t tsc0 = 0, tsc1 = 0;
  sample(ns0, tsc0);
  timespec wait = {0, 20'000'000};
  nanosleep(&wait, nullptr);
  sample(ns1, tsc1);
  return static_cast<uint64_t>(static_cast<double>(tsc1 - tsc0) * 1e6 / (ns1 - ns0));
}

}  // namespace

Result<std::string> FindQemu() {
  if (auto qemu = FindInPath(kQemu)) return *qemu;
  return Err(std::string("lab: ") + kQemu +
             " not found in PATH (install the package qemu-system-x86)");
}

Result<std::filesystem::path> FindImages(const LabOptions& options) {
  fs::path dir = options.images_dir;
  if (dir.empty()) dir = ImagesDirOf(SelfDir());
  dir /= "lab";
  for (const char* file : {"vmlinux", "initramfs.cpio.gz"}) {
    if (access((dir / file).c_str(), R_OK) != 0) {
      return Err("lab: " + (dir / file).string() + " is missing (run `make images`)");
    }
  }
  return dir;
}

Result<Qemu> StartQemu(const std::string& qemu, const fs::path& images, const fs::path& job,
                       const LabOptions& options, const sigset_t& original_mask) {
  int in[2], ctl[2], con[2], mon[2];
  for (int* sv : {in, ctl, con, mon}) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return ErrnoErr("socketpair");
  }
  Qemu q;
  q.stdin_port.Reset(in[0]);
  q.ctl_port.Reset(ctl[0]);
  q.console.Reset(con[0]);
  q.monitor.Reset(mon[0]);
  UniqueFd theirs[4] = {UniqueFd(in[1]), UniqueFd(ctl[1]), UniqueFd(con[1]), UniqueFd(mon[1])};
  fcntl(in[0], F_SETFL, O_NONBLOCK);  // stdin bytes are queued, never blocking the relay

  // tsc=reliable: L1's clocksource watchdog checks the TSC against jiffies, whose ticks TCG delays
  // under load; it then marked the TSC unstable about 2 s into boot and L1 ran on refined-jiffies,
  // without high-resolution timers (every hrtimer in L1, its KVM's emulated LAPIC timers for L2
  // among them, rounded to 4 ms ticks). Under TCG the guest TSC is the host's own, so it is stable.
  std::string append =
      "console=ttyS0 reboot=t panic=-1 tsc=reliable tsc_early_khz=" + std::to_string(HostTscKhz()) +
      " " + lab::kJobParam + job.string() + (options.verbose ? "" : " quiet");
  auto fd = [&](int i) { return std::to_string(theirs[i].get()); };
  // The ELF vmlinux boots through its PVH entry, skipping the firmware and the decompressor: 1.1 s
  // instead of 1.45 s for `true`. thread=multi gives each vCPU a host thread (it measured the same
  // for `true`, 12% faster for the sc.c probe). Option/value pairs read better one to a line.
  // clang-format off
  std::vector<std::string> args = {
      qemu, "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
      "-M", "microvm,acpi=off", "-accel", "tcg,thread=multi", "-cpu", "max",
      "-smp", std::to_string(options.cpus), "-m", std::to_string(options.memory_mib),
      "-kernel", (images / "vmlinux").string(), "-initrd", (images / "initramfs.cpio.gz").string(),
      "-append", append,
      "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
      "-chardev", "socket,id=console,fd=" + fd(2), "-serial", "chardev:console",
      "-fsdev", "local,id=host,path=/,security_model=passthrough,multidevs=remap",
      "-device", "virtio-9p-device,fsdev=host,mount_tag=host",
      "-device", "virtio-serial-device",
      "-chardev", "socket,id=stdin,fd=" + fd(0),
      "-device", std::string("virtserialport,chardev=stdin,name=") + lab::kStdinPort,
      "-chardev", "socket,id=ctl,fd=" + fd(1),
      "-device", std::string("virtserialport,chardev=ctl,name=") + lab::kCtlPort,
      "-chardev", "socket,id=mon,fd=" + fd(3), "-mon", "chardev=mon,mode=readline"};
  // clang-format on
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // QEMU's own messages go to a file shown only when the lab fails.
  UniqueFd log(open((job / "qemu.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  UniqueFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  int status_pipe[2];
  if (!log.valid() || !null.valid() || pipe2(status_pipe, O_CLOEXEC) != 0) {
    return ErrnoErr("lab: preparing QEMU's stdio");
  }
  UniqueFd status_r(status_pipe[0]), status_w(status_pipe[1]);
  pid_t parent = getpid();
  q.pid = fork();
  if (q.pid < 0) return ErrnoErr("lab: fork");
  if (q.pid == 0) {
    // Only async-signal-safe calls from here to exec.
    sigprocmask(SIG_SETMASK, &original_mask, nullptr);
    setpgid(0, 0);                     // a terminal's ^C reaches us; we decide what QEMU gets
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the runner
    if (getppid() != parent) _exit(127);
    for (auto& t : theirs) fcntl(t.get(), F_SETFD, 0);
    dup2(null.get(), 0);
    dup2(log.get(), 1);
    dup2(log.get(), 2);
    execv(argv[0], argv.data());
    int e = errno;
    (void)!write(status_w.get(), &e, sizeof e);
    _exit(127);
  }
  status_w.Reset();
  int exec_errno = 0;
  if (read(status_r.get(), &exec_errno, sizeof exec_errno) == sizeof exec_errno) {
    waitpid(q.pid, nullptr, 0);
    return ErrnoErr("lab: cannot run " + qemu, exec_errno);
  }
  q.pidfd.Reset(static_cast<int>(syscall(SYS_pidfd_open, q.pid, 0)));
  if (!q.pidfd.valid()) {
    kill(q.pid, SIGKILL);
    waitpid(q.pid, nullptr, 0);
    return ErrnoErr("lab: pidfd_open");
  }
  return q;
}

}  // namespace uvm::lab
