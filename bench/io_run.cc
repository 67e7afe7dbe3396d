#include "bench/io_run.h"

#include <dirent.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "base/unix_socket.h"
#include "bench/net.h"
#include "runtime/paths.h"

namespace uvm::bench {
namespace {

// The guest's vsock and TCP ports (iobench_mode.h).
constexpr unsigned kG2hPort = 7000;
constexpr unsigned kH2gPort = 7001;
constexpr uint16_t kNetG2hPort = 7002;
constexpr uint16_t kNetH2gPort = 7003;
constexpr size_t kChunk = 256 * 1024;
// How long the host waits for the guest to connect before giving up on a stream phase.
constexpr int kAcceptTimeoutMs = 600 * 1000;

// utime + stime - guest_time of /proc/PID/stat, in seconds (fields 14, 15, 43; proc(5)). utime
// includes the time vCPU threads spent in the guest, which is the guest's work, not the VMM's.
double ProcCpuSeconds(const std::string& stat_path, bool subtract_guest) {
  std::ifstream f(stat_path);
  std::string line;
  if (!std::getline(f, line)) return 0;
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(line.substr(paren + 2));
  std::vector<std::string> v;
  for (std::string s; fields >> s;) v.push_back(s);
  auto field = [&](size_t n) { return n - 3 < v.size() ? std::stod(v[n - 3]) : 0.0; };
  const double ticks = field(14) + field(15) - (subtract_guest ? field(43) : 0.0);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// TCP on every address of the bench namespace (the tap's is the one the guest uses).
Result<UniqueFd> ListenTcp(uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  int one = 1;
  if (!fd.valid() || setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
      listen(fd.get(), 4) < 0) {
    return ErrnoErr("listening on TCP port " + std::to_string(port));
  }
  return fd;
}

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The host ends of a guest -> host and a host -> guest phase over one kind of stream socket
// (vsock, TCP), run on their own thread while the console is read: accept on `g2h`, read to
// EOF, acknowledge with one byte; then accept on `h2g`, send, half-close, wait for the guest's
// acknowledgement. With no listeners (the phases are not run) the thread does nothing.
class StreamHost {
 public:
  StreamHost(std::string what, UniqueFd g2h, UniqueFd h2g, uint64_t bytes)
      : what_(std::move(what)),
        g2h_(std::move(g2h)),
        h2g_(std::move(h2g)),
        bytes_(bytes),
        thread_([this] {
          if (g2h_.valid()) Serve();
        }) {}
  ~StreamHost() { Finish(); }
  // Valid after the thread ended (the destructor, or the VMM exited and Finish() was called).
  void Finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::string& error() const { return error_; }
  double g2h_seconds() const { return g2h_seconds_; }
  double h2g_seconds() const { return h2g_seconds_; }

 private:
  UniqueFd Accept(int listener) {
    for (int waited = 0; !stop_ && waited < kAcceptTimeoutMs; waited += 100) {
      pollfd p{listener, POLLIN, 0};
      if (poll(&p, 1, 100) == 1) return UniqueFd(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    }
    return UniqueFd();
  }

  void Serve() {
    std::vector<char> buf(kChunk, 'h');
    {
      UniqueFd c = Accept(g2h_.get());
      if (!c.valid()) return Fail("the guest never connected (guest -> host)");
      const auto t0 = std::chrono::steady_clock::now();
      uint64_t got = 0;
      for (ssize_t n; (n = read(c.get(), buf.data(), buf.size())) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Fail(std::string("read: ") + std::strerror(errno));
        got += static_cast<uint64_t>(n);
      }
      g2h_seconds_ = SecondsSince(t0);
      if (got != bytes_) return Fail("guest -> host: got " + std::to_string(got) + " bytes");
      if (write(c.get(), "k", 1) != 1) return Fail("acknowledgement not sent");
    }
    UniqueFd c = Accept(h2g_.get());
    if (!c.valid()) return Fail("the guest never connected (host -> guest)");
    const auto t0 = std::chrono::steady_clock::now();
    for (uint64_t sent = 0; sent < bytes_;) {
      ssize_t n = write(c.get(), buf.data(), std::min<uint64_t>(buf.size(), bytes_ - sent));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Fail(std::string("write: ") + std::strerror(errno));
      sent += static_cast<uint64_t>(n);
    }
    shutdown(c.get(), SHUT_WR);
    char ack;
    if (read(c.get(), &ack, 1) != 1) return Fail("host -> guest: no acknowledgement");
    h2g_seconds_ = SecondsSince(t0);
  }

  void Fail(const std::string& why) { error_ = what_ + " " + why; }

  const std::string what_;
  UniqueFd g2h_, h2g_;
  const uint64_t bytes_;
  std::atomic<bool> stop_{false};
  std::string error_;
  double g2h_seconds_ = 0, h2g_seconds_ = 0;
  std::thread thread_;  // last: starts once everything above exists
};

std::string GuestCmdline(const IoRunConfig& c, bool only_net) {
  return "quiet uvmtest=iobench uvmio_mib=" + std::to_string(c.mib) +
         " uvmio_secs=" + std::to_string(c.secs) + " uvmio_threads=" + std::to_string(c.threads) +
         " uvmio_vsock_mib=" + std::to_string(c.vsock_mib) +
         " uvmio_net_mib=" + std::to_string(c.net_mib) + " uvmio_net_ip=" + kBenchGuestIp +
         " uvmio_net_peer=" + kBenchHostIp + (only_net ? " uvmio_only_net=1" : "");
}

// Reads "key=N" out of a result line.
double Field(const std::string& line, const std::string& key) {
  size_t at = line.find(" " + key + "=");
  return at == std::string::npos ? -1 : std::stod(line.substr(at + key.size() + 2));
}

}  // namespace

// vhost workers are kernel threads named "vhost-<owner pid>" (Linux 6.1, drivers/vhost/vhost.c),
// outside the process.
double VmmCpuSeconds(pid_t pid) {
  double total = ProcCpuSeconds("/proc/" + std::to_string(pid) + "/stat", true);
  const std::string vhost = "vhost-" + std::to_string(pid);
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      std::ifstream comm(std::string("/proc/") + e->d_name + "/comm");
      std::string name;
      if (std::getline(comm, name) && name == vhost) {
        total += ProcCpuSeconds(std::string("/proc/") + e->d_name + "/stat", false);
      }
    }
    closedir(d);
  }
  return total;
}

double ProcessCpuSeconds(pid_t pid) {
  return ProcCpuSeconds("/proc/" + std::to_string(pid) + "/stat", false);
}

Result<PhaseLog> CollectPhases(const Spawned& p, const std::function<double()>& cpu) {
  PhaseLog log;
  std::map<std::string, double> cpu_at_start;
  std::string pending;
  char buf[4096];
  for (ssize_t n; (n = read(p.out.get(), buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    pending.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
      std::string line = pending.substr(0, nl);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      log.tail = line;
      const size_t at = line.find("UVMIO ");
      if (at == std::string::npos) continue;
      std::istringstream words(line.substr(at + 6));
      std::string what, phase;
      words >> what >> phase;
      if (what == "start") {
        cpu_at_start[phase] = cpu();
      } else if (what == "result" && cpu_at_start.count(phase)) {
        PhaseResult& r = log.phases[phase];
        r.vmm_cpu_seconds = cpu() - cpu_at_start[phase];
        r.bytes = Field(line, "bytes");
        r.ops = Field(line, "ops");
        r.seconds = Field(line, "ns") / 1e9;
      } else if (what == "error" && log.error.empty()) {
        log.error = "the guest reported: " + line.substr(at + 12);
      } else if (what == "end") {
        log.ended = true;
      }
    }
  }
  UVM_TRY(log.status, WaitProcess(p.pid));
  return log;
}

Result<IoRunResult> FinishedPhases(PhaseLog log, const std::string& who, bool qemu) {
  if (!log.error.empty()) return Err(who + ": " + log.error);
  // isa-debug-exit ends QEMU with (status << 1) | 1; uvm exits with the status itself.
  const int expected = qemu ? 1 : 0;
  const int status = log.status;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != expected || !log.ended) {
    // QEMU with -no-reboot exits 0 when the guest resets (a triple fault prints nothing).
    const bool qemu_reset = qemu && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return Err(who + " did not finish the benchmark (exit status " + std::to_string(status) +
               (qemu_reset ? ": the guest reset" : "") + ", last console line: '" + log.tail +
               "')");
  }
  return std::move(log.phases);
}

std::string QemuNetdev(bool vhost) {
  return std::string("tap,id=n0,ifname=") + kBenchTap +
         ",script=no,downscript=no,vhost=" + (vhost ? "on" : "off");
}

Result<IoRunResult> RunIoGuest(IoVmm vmm, const IoRunConfig& c) {
  const bool only_net = vmm == IoVmm::kQemuMicrovmVhostNet;
  if (only_net && c.net_mib == 0) return Err("a vhost-net run needs the net phases");
  const std::string guest_cmdline = GuestCmdline(c, only_net);
  const uint64_t vsock_bytes = static_cast<uint64_t>(c.vsock_mib) << 20;
  std::vector<std::string> argv;
  UniqueFd g2h, h2g, net_g2h, net_h2g;
  if (c.net_mib > 0) {
    UVM_TRY(net_g2h, ListenTcp(kNetG2hPort));
    UVM_TRY(net_h2g, ListenTcp(kNetH2gPort));
  }
  std::string uds;
  if (vmm == IoVmm::kUvm) {
    uds = c.scratch + "/uvm-bench-io-" + std::to_string(getpid()) + ".vsock";
    UVM_TRY(g2h, ListenUnix(uds + "_" + std::to_string(kG2hPort)));
    UVM_TRY(h2g, ListenUnix(uds + "_" + std::to_string(kH2gPort)));
    argv = {"/proc/self/exe", "boot",
            "--kernel",       c.guest.kernel,
            "--initrd",       c.guest.initrd,
            "--memory",       std::to_string(c.memory_mib),
            "--cmdline",      guest_cmdline,
            "--disk",         c.disk,
            "--vsock",        uds};
    if (c.net_mib > 0) argv.insert(argv.end(), {"--net", kBenchTap});
  } else {
    std::vector<std::string> devices;
    if (!only_net) {
      // QEMU's vhost-vsock needs /dev/vhost-vsock (CONFIG_VHOST_VSOCK) for these to be reached.
      UVM_TRY(g2h, ListenVsock(kG2hPort, 4));
      UVM_TRY(h2g, ListenVsock(kH2gPort, 4));
      devices = {"-drive",  "id=d0,file=" + c.disk + "," + kQemuDriveOptions,
                 "-device", "virtio-blk-device,drive=d0",
                 "-device", "vhost-vsock-device,guest-cid=3"};
    }
    if (c.net_mib > 0) {
      devices.insert(devices.end(),
                     {"-netdev", QemuNetdev(only_net), "-device", "virtio-net-device,netdev=n0"});
    }
    // No ACPI (the guest kernel has none): QEMU then announces the virtio-mmio devices on the
    // kernel command line, as uvm does.
    argv = QemuMicrovmArgv(c.guest, std::string(runtime::kBaseCmdline) + " " + guest_cmdline,
                           c.memory_mib, ",acpi=off", devices);
  }
  StreamHost vsock("vsock", std::move(g2h), std::move(h2g), vsock_bytes);
  StreamHost net("net", std::move(net_g2h), std::move(net_h2g),
                 static_cast<uint64_t>(c.net_mib) << 20);
  UVM_TRY(Spawned p, SpawnWithStdoutPipe(argv));

  Result<PhaseLog> log = CollectPhases(p, [&] { return VmmCpuSeconds(p.pid); });
  vsock.Finish();
  net.Finish();
  if (!uds.empty()) {
    for (const std::string& f : {uds, uds + "_7000", uds + "_7001"}) unlink(f.c_str());
  }
  const std::string who = vmm == IoVmm::kUvm           ? "uvm"
                          : vmm == IoVmm::kQemuMicrovm ? "qemu microvm"
                                                       : "qemu microvm (vhost-net)";
  if (!log) return tl::unexpected(log.error());
  UVM_TRY(IoRunResult result, FinishedPhases(std::move(*log), who, vmm != IoVmm::kUvm));
  if (c.vsock_mib > 0 && !only_net) {
    if (!vsock.error().empty()) return Err(who + ": " + vsock.error());
    result["vsock_g2h"].seconds = vsock.g2h_seconds();
    result["vsock_h2g"].seconds = vsock.h2g_seconds();
  }
  if (c.net_mib > 0) {
    if (!net.error().empty()) return Err(who + ": " + net.error());
    result["net_g2h"].seconds = net.g2h_seconds();
    result["net_h2g"].seconds = net.h2g_seconds();
  }
  return result;
}

}  // namespace uvm::bench
