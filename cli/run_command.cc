#include "cli/run_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <random>

#include "base/fs.h"
#include "base/log.h"
#include "base/phase_timer.h"
#include "cli/boot_command.h"
#include "guest-agent/protocol/messages.h"
#include "runtime/agent/agent_client.h"
#include "runtime/agent/exec_identity.h"
#include "runtime/agent/stdio_relay.h"
#include "runtime/agent_wait.h"
#include "runtime/host_check.h"
#include "runtime/paths.h"
#include "runtime/pool/client.h"
#include "runtime/pool/server.h"
#include "runtime/tap_network.h"
#include "runtime/template_store.h"
#include "runtime/vm_shape.h"
#include "store/image_store.h"
#include "vmm/utility_vm.h"

namespace uvm::cli {
namespace {

constexpr auto kAgentTimeout = std::chrono::seconds(120);
// A pooled VM's agent answered the pool already: one that does not now is broken.
constexpr auto kPooledAgentTimeout = std::chrono::seconds(5);

Result<void> Validate(const RunOptions& o) {
  UVM_CHECK(runtime::ValidateVmShape(o.memory_mib, o.cpus));
  if (o.isolation != "vm") {
    return Err("--isolation " + o.isolation +
               ": uvm runs every container in its own VM (only `vm` is supported)");
  }
  if (o.net != "none" && o.net != "tap") {
    return Err("--net " + o.net + ": must be `none` (loopback only) or `tap` (a tap of its own)");
  }
  return {};
}

// docker run semantics: arguments after IMAGE replace the image's Cmd; the Entrypoint stays.
std::vector<std::string> ContainerArgv(const store::ImageConfig& config,
                                       const std::vector<std::string>& command) {
  std::vector<std::string> argv = config.entrypoint;
  const auto& rest = command.empty() ? config.cmd : command;
  argv.insert(argv.end(), rest.begin(), rest.end());
  return argv;
}

// The image's Env, then each -e: K=V sets K, a bare K copies K from uvm's environment (and is
// left out when uvm has no K), as docker does.
std::vector<std::string> ContainerEnv(const store::ImageConfig& config,
                                      const std::vector<std::string>& flags) {
  std::vector<std::string> env = config.env;
  auto set = [&](const std::string& kv) {
    const std::string key = kv.substr(0, kv.find('='));
    for (auto& e : env) {
      if (e.substr(0, e.find('=')) == key) {
        e = kv;
        return;
      }
    }
    env.push_back(kv);
  };
  for (const auto& f : flags) {
    if (f.find('=') != std::string::npos) {
      set(f);
    } else if (const char* v = std::getenv(f.c_str())) {
      set(f + "=" + v);
    }
  }
  return env;
}

std::string RandomId() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return buf;
}

// /run/uvm/<id>: the VM's vsock socket and console log; removed when the run ends.
class RuntimeDir {
 public:
  static Result<RuntimeDir> Create() {
    ::mkdir("/run/uvm", 0755);
    RuntimeDir d;
    d.path_ = "/run/uvm/" + RandomId();
    if (::mkdir(d.path_.c_str(), 0700) < 0) return ErrnoErr("mkdir " + d.path_);
    return d;
  }
  RuntimeDir() = default;
  RuntimeDir(RuntimeDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  ~RuntimeDir() {
    if (path_.empty()) return;
    for (const char* f : {"/vsock.sock", "/console.log"}) ::unlink((path_ + f).c_str());
    ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string id() const { return path_.substr(path_.rfind('/') + 1); }

 private:
  std::string path_;
};

// Puts the host terminal in raw mode for -t and restores it however the run ends.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (!::isatty(fd) || ::tcgetattr(fd, &saved_) < 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    if (::tcsetattr(fd, TCSANOW, &raw) == 0) active_ = true;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

std::pair<uint16_t, uint16_t> TerminalSize() {
  winsize ws{};
  for (int fd : {STDIN_FILENO, STDOUT_FILENO}) {
    if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) return {ws.ws_row, ws.ws_col};
  }
  return {24, 80};
}

// The container's life once its VM's agent answers: identity, exec, stdio relay, exit status.
// `fail` stops the VM and says what happened to it.
Result<int> RunInVm(agent::AgentClient& client, agent::ExecRequest& exec, const RunOptions& o,
                    const PhaseTimer& timer, const std::function<Error(const std::string&)>& fail) {
  // Stamped last, so the clock is as fresh as it can be when the agent sets it.
  if (auto id = agent::StampIdentity(exec); !id) return tl::unexpected(fail(id.error().message));
  auto started = client.Exec(exec);
  if (!started) return tl::unexpected(fail("exec: " + started.error().message));
  agent::RemoteProcess& proc = *started;
  timer.Mark("process started");
  if (proc.pid() == 0) {
    auto exit = proc.WaitExit(std::chrono::seconds(10));
    if (!exit) return tl::unexpected(fail("exec: " + exit.error().message));
    std::fprintf(stderr, "uvm: %s\n", agent::Describe(*exit).c_str());
    return agent::ShellExitCode(*exit);
  }

  {
    std::optional<RawTerminal> raw;
    if (o.tty) raw.emplace(STDIN_FILENO);
    agent::RelayFds fds;
    fds.host_in = o.interactive ? STDIN_FILENO : -1;
    fds.container_in = proc.stdin_fd();
    fds.container_out = proc.stdout_fd();
    fds.container_err = proc.stderr_fd();
    agent::RelayHooks hooks;
    int terminations = 0;
    hooks.on_signal = [&](int signo) {
      // docker: the first SIGINT/SIGTERM/SIGHUP goes to the process, a second one kills it.
      const bool termination = signo == SIGINT || signo == SIGTERM || signo == SIGHUP;
      if (termination && ++terminations > 1) signo = SIGKILL;
      if (auto r = proc.Signal(signo); !r) Log(LogLevel::kWarn, "signal: " + r.error().message);
    };
    hooks.on_resize = [&] {
      if (!o.tty) return;
      auto [rows, cols] = TerminalSize();
      (void)proc.Resize(rows, cols);
    };
    UVM_CHECK(agent::RelayStdio(fds, hooks));
    proc.CloseStdout();
    proc.CloseStderr();
  }
  timer.Mark("output done");
  auto exit = proc.WaitExit(std::chrono::seconds(30));
  if (!exit) return tl::unexpected(fail("waiting for the exit status: " + exit.error().message));
  if (exit->error != agent::ExecError::kNone) {
    std::fprintf(stderr, "uvm: %s\n", agent::Describe(*exit).c_str());
  }
  return agent::ShellExitCode(*exit);
}

// The container in a VM lent by the pool serving o.root; nullopt when there is none to be had
// (no pool, none ready, one that does not answer): then the caller makes its own clone.
std::optional<Result<int>> RunPooled(const runtime::TemplateShape& shape, const std::string& key,
                                     agent::ExecRequest& exec, const RunOptions& o,
                                     const PhaseTimer& timer) {
  auto claimed = runtime::ClaimPooledVm(o.root, shape, key);
  if (!claimed) {
    Log(LogLevel::kDebug, "no pooled VM: " + claimed.error().message);
    return std::nullopt;
  }
  std::optional<runtime::PoolLease> lease(std::move(*claimed));
  const std::string vm = lease->vm();
  timer.Mark("pooled VM " + vm);
  auto client = agent::AgentClient::Connect(agent::AgentAddress::Vsock(lease->vsock_uds()),
                                            kPooledAgentTimeout);
  if (!client) {
    Log(LogLevel::kWarn, "the pool's VM " + vm + " did not answer (" + client.error().message +
                             "); cloning the template instead");
    return std::nullopt;
  }
  timer.Mark("agent ready");
  auto fail = [&](const std::string& what) -> Error {
    lease.reset();  // the pool stops the VM, and logs its console if it had ended
    return Error{what + " (the pool's utility VM " + vm + "; see " + runtime::PoolLogPath(o.root) +
                 ")"};
  };
  return RunInVm(*client, exec, o, timer, fail);
}

}  // namespace

Result<int> RunContainer(const RunOptions& o) {
  const PhaseTimer timer("run: ");
  UVM_CHECK(Validate(o));
  runtime::TemplateShape shape =
      runtime::BuiltinTemplateShape(o.memory_mib, o.cpus, o.net == "tap");
  const std::string images = runtime::BuiltinImagesDir();
  for (const auto& f : {shape.kernel, shape.initrd}) {
    if (::access(f.c_str(), R_OK) != 0) return Err(f + " is missing: run `make images`");
  }
  if (!runtime::LinuxGuestsRunHere()) {
    return Err(
        "this host's KVM cannot run Linux guests (see `uvm doctor`); run uvm inside the lab: "
        "`uvm lab -- uvm run ...`");
  }
  UVM_TRY(store::ImageStore store, store::ImageStore::Open(o.root, images));
  UVM_TRY(store::ImageRecord image, store.Resolve(o.image));
  timer.Mark("host checked, image resolved");
  // The template is made for this image: its clones find the image mounted and in their page cache.
  shape.image_disk = image.disk_path;
  shape.image_name = o.image;

  agent::ExecRequest exec;
  exec.argv = ContainerArgv(image.config, o.command);
  if (exec.argv.empty()) {
    return Err("no command: give one after the image name (" + o.image +
               " has no Entrypoint or Cmd)");
  }
  exec.env = ContainerEnv(image.config, o.env);
  exec.cwd = !o.workdir.empty()                  ? o.workdir
             : !image.config.working_dir.empty() ? image.config.working_dir
                                                 : "/";
  exec.user = !o.user.empty() ? o.user : image.config.user;
  exec.tty = o.tty;
  if (o.tty) std::tie(exec.rows, exec.cols) = TerminalSize();
  exec.rootfs = runtime::ContainerRootfs();

  exec.hostname = RandomId().substr(0, 12);

  // Signals are for the container: block them before any thread starts (the VM's threads inherit
  // the mask) and take them through the relay's signalfd.
  agent::BlockRelayedSignals();
  // A clone the pool (`uvm pool start`) restored ahead of time, when one is ready: no restore and
  // no wait for the agent on this run's path. With --net tap the VM needs a tap of its own from
  // the start, so those runs make their clone themselves.
  // The template's key (three stats and a hash), once: for the pool's claim and the run's own
  // clone. A cold boot needs neither.
  Result<std::string> key = Err("a cold boot uses no template");
  if (!o.cold) key = runtime::TemplateKey(shape);
  if (key && o.pool && o.net == "none") {
    if (auto pooled = RunPooled(shape, *key, exec, o, timer)) return *pooled;
  }
  UVM_TRY(RuntimeDir dir, RuntimeDir::Create());
  std::optional<runtime::TapNetwork> net;
  if (o.net == "tap") {
    UVM_TRY(net, runtime::PlanTapNetwork(dir.id(), runtime::HostIpv4Addresses()));
    // The MAC goes to the agent too: a clone's eth0 still has its template's (read at probe),
    // while its net device and tap are its own. A cold boot gets the same MAC twice.
    exec.network =
        agent::Network{"eth0", net->guest_address, net->prefix, net->host_address, net->mac};
  }
  // By default the VM is a clone of the template of its shape (with a net device for --net tap),
  // made on first use. A template that cannot be made is not the container's problem: say why
  // and boot.
  std::string template_dir;
  if (!o.cold) {
    auto t = key ? runtime::TemplateStore(o.root).FindOrCreate(shape, *key) : key;
    if (t) {
      template_dir = *t;
    } else {
      Log(LogLevel::kWarn, "no template (" + t.error().message + "); booting the VM instead");
    }
  }
  timer.Mark(template_dir.empty() ? "booting" : "cloning " + template_dir);
  const std::string uds = dir.path() + "/vsock.sock";
  const std::string console_log = dir.path() + "/console.log";
  UniqueFd console(::open(console_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!console.valid()) return ErrnoErr("open " + console_log);

  vmm::UtilityVmSpec spec = runtime::ContainerVmSpec(shape, template_dir, uds, console.get());
  if (net) spec.nets = {net->tap + ",mac=" + net->mac};
  UVM_TRY(auto vm, vmm::UtilityVm::Start(spec));
  auto vm_failure = [&](const std::string& what) -> Error {
    vm->Stop(what);
    auto r = vm->Wait();
    std::string why = !r ? r.error().message : vmm::ExitKindName(r->exit.kind);
    if (r && r->panicked) why = "the guest kernel panicked";
    Log(LogLevel::kDebug, "guest console:\n" + FileTail(console_log, 2000));
    return Error{what + " (the utility VM: " + why + "; run with -v for its console)"};
  };

  // The agent answers once the guest has booted (or at once in a clone).
  runtime::AgentWait wait = runtime::WaitForAgent(*vm, uds, kAgentTimeout);
  if (wait.signal) return 128 + wait.signal;
  if (!wait.client && !spec.restore_dir.empty()) {
    // A template that does not restore (damaged, or saved by a KVM that differs) must not cost
    // the container its run: say why, and boot.
    vm->Stop(wait.failure);
    auto r = vm->Wait();
    const std::string why = !r ? r.error().message : r->exit.detail;
    Log(LogLevel::kWarn, "the template in " + spec.restore_dir + " did not start (" + why +
                             "); booting the VM instead (`uvm template rm` removes it)");
    spec.restore_dir.clear();
    UVM_TRY(vm, vmm::UtilityVm::Start(spec));
    wait = runtime::WaitForAgent(*vm, uds, kAgentTimeout);
    if (wait.signal) return 128 + wait.signal;
  }
  if (!wait.client) return tl::unexpected(vm_failure(wait.failure));
  agent::AgentClient& client = *wait.client;
  timer.Mark("agent ready");
  // The VM made the tap before its vCPUs started, so it is there now; it goes when the VM ends.
  if (net) {
    if (auto r = runtime::ConfigureHostTap(*net); !r)
      return tl::unexpected(vm_failure(r.error().message));
  }

  UVM_TRY(int code, RunInVm(client, exec, o, timer, vm_failure));
  vm->Stop("the container exited");
  (void)vm->Wait();
  return code;
}

}  // namespace uvm::cli
