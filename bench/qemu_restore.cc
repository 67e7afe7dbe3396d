#include "bench/qemu_restore.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "base/unix_socket.h"
#include "runtime/paths.h"

namespace uvm::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr char kTick[] = "UVMTEST tick";

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Reads `fd` until `marker` has arrived (true) or EOF / the deadline (false).
bool ReadUntil(int fd, const std::string& marker, Clock::time_point deadline) {
  std::string seen;
  char buf[4096];
  while (seen.find(marker) == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd pfd{fd, POLLIN, 0};
    const int rc = ::poll(&pfd, 1, static_cast<int>(left));
    if (rc <= 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    seen.append(buf, static_cast<size_t>(n));
    if (seen.size() > 2 * marker.size()) seen.erase(0, seen.size() - marker.size());
  }
  return true;
}

void Kill(pid_t pid) {
  ::kill(pid, SIGKILL);
  (void)WaitProcess(pid);
}

// A QMP connection (QEMU's JSON monitor): one command, its one-line answer (events skipped).
class Qmp {
 public:
  Result<void> Connect(const std::string& path, Clock::time_point deadline) {
    UVM_TRY(sockaddr_un addr, Context(UnixSocketAddress(path), "QMP"));
    while (true) {
      fd_.Reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!fd_.valid()) return ErrnoErr("socket");
      if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
      if (Clock::now() > deadline) return ErrnoErr("connecting to QEMU's QMP socket " + path);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    UVM_TRY(std::string greeting, Line(deadline));
    (void)greeting;
    UVM_TRY(std::string caps, Command(R"({"execute":"qmp_capabilities"})", deadline));
    (void)caps;
    return {};
  }

  // The answer line ({"return": ...}); an error for {"error": ...}.
  Result<std::string> Command(const std::string& json, Clock::time_point deadline) {
    const std::string line = json + "\n";
    if (::write(fd_.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      return ErrnoErr("writing to QMP");
    }
    while (true) {
      UVM_TRY(std::string answer, Line(deadline));
      if (answer.find("\"event\"") != std::string::npos) continue;
      if (answer.find("\"error\"") != std::string::npos) return Err("QMP: " + answer);
      return answer;
    }
  }

 private:
  Result<std::string> Line(Clock::time_point deadline) {
    while (true) {
      const size_t eol = buffer_.find('\n');
      if (eol != std::string::npos) {
        std::string line = buffer_.substr(0, eol);
        buffer_.erase(0, eol + 1);
        return line;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return Err("QMP: no answer in time");
      pollfd pfd{fd_.get(), POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Err("QMP: QEMU closed the connection");
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

  UniqueFd fd_;
  std::string buffer_;
};

// Boots the ticking guest and migrates it into `state_file`.
Result<void> SaveTickingGuest(const std::vector<std::string>& argv, const std::string& qmp_path,
                              const std::string& state_file) {
  std::vector<std::string> boot = argv;
  boot.insert(boot.end(), {"-qmp", "unix:" + qmp_path + ",server=on,wait=off"});
  UVM_TRY(Spawned p, SpawnWithStdoutPipe(boot));
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  if (!ReadUntil(p.out.get(), kTick, deadline)) {
    Kill(p.pid);
    return Err("the QEMU guest never printed its first tick");
  }
  // The console keeps ticking: drain it, or QEMU would block on a full pipe.
  std::thread drain([fd = p.out.get()] {
    char buf[4096];
    while (true) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EINTR)) return;
    }
  });
  auto migrate = [&]() -> Result<void> {
    Qmp qmp;
    UVM_CHECK(qmp.Connect(qmp_path, deadline));
    UVM_TRY(std::string started,
            qmp.Command(
                R"({"execute":"migrate","arguments":{"uri":"exec:cat > )" + state_file + R"("}})",
                deadline));
    (void)started;
    while (true) {
      UVM_TRY(std::string status, qmp.Command(R"({"execute":"query-migrate"})", deadline));
      if (status.find("\"completed\"") != std::string::npos) return {};
      if (status.find("\"failed\"") != std::string::npos ||
          status.find("\"cancelled\"") != std::string::npos) {
        return Err("QEMU's migration to a file failed: " + status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  Result<void> saved = migrate();
  Kill(p.pid);
  drain.join();
  return saved;
}

}  // namespace

QemuRestoreResult TimeQemuRestore(const BenchGuest& guest, int memory_mib, int runs) {
  auto scratch = MakeScratchDir("qemu");
  if (!scratch) return {std::nullopt, "no scratch directory for QEMU's migration file"};
  const TempDir& dir = *scratch;
  const std::string state_file = dir.path() + "/state";
  const std::string cmdline = std::string(runtime::kBaseCmdline) + " quiet uvmtest=tick";
  const std::vector<std::string> argv = QemuMicrovmArgv(guest, cmdline, memory_mib, "", {});
  if (auto saved = SaveTickingGuest(argv, dir.path() + "/qmp", state_file); !saved) {
    return {std::nullopt, "not measured: " + saved.error().message};
  }
  std::vector<std::string> restore = argv;
  restore.insert(restore.end(), {"-incoming", "exec:cat " + state_file});
  std::vector<double> ms;
  for (int i = -1; i < runs; ++i) {  // the first, unmeasured, warms the page cache
    const auto start = Clock::now();
    auto p = SpawnWithStdoutPipe(restore);
    if (!p) return {std::nullopt, "not measured: " + p.error().message};
    const bool ticked = ReadUntil(p->out.get(), kTick, start + std::chrono::seconds(60));
    const double elapsed = MsSince(start);
    Kill(p->pid);
    if (!ticked) {
      return {std::nullopt, "not measured: QEMU restored from its migration file printed no tick"};
    }
    if (i >= 0) ms.push_back(elapsed);
  }
  return {Median(ms),
          "median ms from starting `qemu-system-x86_64 -M microvm ... -incoming \"exec:cat "
          "FILE\"` (same kernel, " +
              std::to_string(memory_mib) +
              " MiB, 1 vCPU; the test init printing a line every 5 ms) to the restored guest's "
              "next console line; includes up to 5 ms of the guest's tick interval"};
}

}  // namespace uvm::bench
