// `uvm pool start|stop|status`: the long-lived process that keeps clones of templates restored
// ahead of time for `uvm run` (runtime/pool/server.h).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "base/fs.h"
#include "base/log.h"
#include "cli/command.h"
#include "runtime/host_check.h"
#include "runtime/paths.h"
#include "runtime/pool/client.h"
#include "runtime/pool/server.h"
#include "runtime/vm_shape.h"
#include "store/image_store.h"

namespace uvm::cli {
namespace {

struct PoolOptions {
  std::string root;                 // uvm's state root (--root): the pool clones its templates
  std::vector<std::string> images;  // start: fill these images' shapes from the start
  int size = 2;                     // start: VMs kept ready per shape
  uint64_t memory_mib = 256;        // start: the shape of the images' VMs, as `uvm run` has it
  int cpus = 1;
  bool foreground = false;  // start: serve in this process (logs to stderr) instead of detaching
  bool json = false;        // status
};

// Making a template the first time boots a VM (seconds; more in the lab), then the VMs restore.
constexpr auto kFillTimeout = std::chrono::seconds(300);

// The last line of the pool's log: why a detached pool did not start.
std::string LogTail(const std::string& path) {
  std::string s = FileTail(path, 4096);
  if (s.empty()) return "";
  if (s.back() == '\n') s.pop_back();
  return s.substr(s.rfind('\n') == std::string::npos ? 0 : s.rfind('\n') + 1);
}

// Detaches a child that serves the pool (its own session, stdio to the pool's log) and returns
// once it listens, or fails with the last line it logged.
Result<int> StartDetached(const runtime::PoolServerOptions& server) {
  const std::string log = runtime::PoolLogPath(server.root);
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) < 0) return ErrnoErr("pipe");
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return ErrnoErr("fork");
  if (pid == 0) {
    ::close(ready[0]);
    ::setsid();
    // The log says what the pool did (shapes served, VMs that failed), not only what went wrong.
    if (!LogEnabled(LogLevel::kInfo)) SetLogLevel(LogLevel::kInfo);
    const int null = ::open("/dev/null", O_RDONLY);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    if (out >= 0) {
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
    }
    auto served = runtime::ServePool(server, [&] {
      (void)!::write(ready[1], "1", 1);
      ::close(ready[1]);
    });
    if (!served) std::fprintf(stderr, "uvm pool: %s\n", served.error().message.c_str());
    std::fflush(nullptr);
    ::_exit(served ? 0 : 1);
  }
  ::close(ready[1]);
  char c;
  ssize_t n;
  do {
    n = ::read(ready[0], &c, 1);
  } while (n < 0 && errno == EINTR);
  ::close(ready[0]);
  if (n != 1) {
    return Err("the pool did not start: " + LogTail(log) + " (log: " + log + ")");
  }
  return static_cast<int>(pid);
}

// Whether `pid` still runs: a zombie has ended (a detached pool's parent is init, and the lab's
// init does not reap).
bool Running(pid_t pid) {
  auto stat = ReadFileLimited("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!stat) return false;
  const size_t paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] != 'Z';
}

Result<int> RunPoolStart(const PoolOptions& o) {
  if (o.size < 1 || o.size > 64) return Err("--size: must be 1 to 64");
  UVM_CHECK(runtime::ValidateVmShape(o.memory_mib, o.cpus));
  UVM_CHECK(runtime::RequireLinuxGuests("uvm lab -- sh -c 'uvm pool start ...; uvm run ...'"));
  if (auto running = runtime::QueryPool(o.root)) {
    return Err("a pool is already running for " + o.root + " (pid " + std::to_string(running->pid) +
               "; `uvm pool stop` stops it)");
  }
  runtime::PoolServerOptions server;
  server.root = o.root;
  server.size = o.size;
  std::vector<std::string> keys;
  if (!o.images.empty()) {
    UVM_TRY(store::ImageStore store, store::ImageStore::Open(o.root, runtime::BuiltinImagesDir()));
    for (const std::string& name : o.images) {
      UVM_TRY(store::ImageRecord image, store.Resolve(name));
      runtime::TemplateShape shape = runtime::BuiltinTemplateShape(o.memory_mib, o.cpus);
      shape.image_disk = image.disk_path;
      shape.image_name = name;
      UVM_TRY(std::string key, runtime::TemplateKey(shape));
      keys.push_back(key);
      server.prefill.push_back(std::move(shape));
    }
  }
  if (o.foreground) {
    UVM_CHECK(runtime::ServePool(server, [&] {
      std::fprintf(stderr, "uvm pool: serving %s on %s\n", o.root.c_str(),
                   runtime::PoolSocketPath(o.root).c_str());
    }));
    return 0;
  }
  UVM_TRY(int pid, StartDetached(server));
  // Back once a run would find its VM ready: the image's template may have to be made first.
  const auto deadline = std::chrono::steady_clock::now() + kFillTimeout;
  for (;;) {
    UVM_TRY(runtime::PoolStatus status, runtime::QueryPool(o.root));
    size_t filled = 0;
    for (const std::string& key : keys) {
      for (const runtime::PoolShapeStatus& s : status.shapes) {
        if (s.key != key) continue;
        if (!s.error.empty()) {
          return Err("the pool (pid " + std::to_string(pid) + ") cannot make VMs for " + s.image +
                     ": " + s.error + " (`uvm pool stop` stops it)");
        }
        if (s.ready >= o.size) filled++;
      }
    }
    if (filled == keys.size()) break;
    if (std::chrono::steady_clock::now() > deadline) {
      return Err("the pool (pid " + std::to_string(pid) + ") is still making VMs after " +
                 std::to_string(kFillTimeout.count()) + " s; see " + runtime::PoolLogPath(o.root));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("pool started (pid %d): %d VMs ready per image, log %s\n", pid, o.size,
              runtime::PoolLogPath(o.root).c_str());
  return 0;
}

Result<int> RunPoolStop(const PoolOptions& o) {
  UVM_TRY(runtime::PoolStatus status, runtime::StopPool(o.root));
  int in_use = 0;
  for (const auto& s : status.shapes) in_use += s.in_use;
  if (in_use > 0) {
    std::printf("pool (pid %d) stopping: it exits when the %d containers in its VMs end\n",
                status.pid, in_use);
    return 0;
  }
  // Returns once the process is gone, so a `uvm pool start` right after finds no pool.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Running(status.pid)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Err("the pool (pid " + std::to_string(status.pid) + ") did not exit within 30 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("pool (pid %d) stopped\n", status.pid);
  return 0;
}

Result<int> RunPoolStatus(const PoolOptions& o) {
  UVM_TRY(runtime::PoolStatus status, runtime::QueryPool(o.root));
  if (o.json) {
    std::fputs(runtime::EncodePoolStatus(status).c_str(), stdout);
    return 0;
  }
  std::printf("pool pid %d, %d VMs kept ready per shape, socket %s\n", status.pid, status.size,
              runtime::PoolSocketPath(o.root).c_str());
  std::printf("%-16s  %-12s  %8s  %4s  %5s  %6s  %7s  %6s  %s\n", "TEMPLATE", "IMAGE", "MEMORY",
              "CPUS", "READY", "IN USE", "SERVED", "MISSED", "ERROR");
  for (const runtime::PoolShapeStatus& s : status.shapes) {
    std::printf("%-16s  %-12s  %4llu MiB  %4d  %5d  %6d  %7llu  %6llu  %s\n", s.key.c_str(),
                s.image.empty() ? "-" : s.image.c_str(),
                static_cast<unsigned long long>(s.memory_mib), s.cpus, s.ready, s.in_use,
                static_cast<unsigned long long>(s.served),
                static_cast<unsigned long long>(s.missed), s.error.empty() ? "-" : s.error.c_str());
  }
  return 0;
}

}  // namespace

void RegisterPoolCommand(CommandTable& table) {
  auto o = std::make_shared<PoolOptions>();
  const GlobalOptions& g = table.global;
  auto cmd =
      table.root.Sub("pool", "Keep clones restored ahead of time, so `uvm run` finds its VM ready");
  cmd.NeedsSubcommand();
  auto start = cmd.Sub(
      "start", "Start the pool for --root in the background; back once the images' VMs are ready");
  start.Option("image", o->images, "images whose VMs to make from the start (others on first use)");
  start.Option("--size", o->size, "VMs kept ready per image and shape (1-64)").ShowDefault();
  start.Option("--memory", o->memory_mib, "the images' VMs' RAM in MiB (as uvm run)").ShowDefault();
  start.Option("--cpus", o->cpus, "the images' VMs' vCPUs (as uvm run)").ShowDefault();
  start.Flag("--foreground", o->foreground,
             "serve in this process, logging to stderr, until SIGTERM or `pool stop`");
  auto stop = cmd.Sub("stop", "Stop the pool (containers running in its VMs finish first)");
  auto status = cmd.Sub("status", "What the pool holds and has served");
  status.Flag("--json", o->json, "one JSON object");
  OnParsed(start, table, WithRoot(o, g, RunPoolStart));
  OnParsed(stop, table, WithRoot(o, g, RunPoolStop));
  OnParsed(status, table, WithRoot(o, g, RunPoolStatus));
}

}  // namespace uvm::cli
