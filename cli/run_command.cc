// `uvm run IMAGE [--] CMD [ARG...]`: runs CMD from IMAGE inside a fresh utility VM and behaves
// like `docker run`: stdio and the exit code pass through (125 for uvm's own failures),
// SIGINT/SIGTERM/SIGHUP go to the container process.
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "base/fs.h"
#include "base/phase_timer.h"
#include "base/random_id.h"
#include "cli/command.h"
#include "cli/device_flags.h"
#include "cli/run_words.h"
#include "runtime/agent/stdio_relay.h"
#include "runtime/agent_vm.h"
#include "runtime/container.h"
#include "runtime/exec_spec.h"
#include "runtime/host_check.h"
#include "runtime/paths.h"
#include "runtime/process_config.h"
#include "runtime/process_container.h"
#include "runtime/sandbox.h"
#include "runtime/template_shape.h"
#include "runtime/vm_shape.h"
#include "store/image_store.h"

namespace uvm::cli {
namespace {

struct RunOptions {
  std::string root;  // the state root (--root)
  std::string image;
  std::vector<std::string> command;  // replaces the image's Cmd; the Entrypoint stays
  std::vector<std::string> env;      // -e K=V, or -e K to copy K from uvm's environment
  std::string workdir;               // -w
  std::string user;                  // --user
  bool interactive = false;          // -i
  bool tty = false;                  // -t
  bool remove = false;               // --rm (a VM leaves nothing behind either way)
  uint64_t memory_mib = 0;  // 0: kDefaultMemoryMib for a VM, no limit for a process container
  int cpus = 0;             // 0: 1 vCPU for a VM, no limit for a process container
  std::string net = "none";
  std::string isolation = "vm";
  bool cold = false;
  bool pool = true;  // take a ready clone from `uvm pool` when one runs (--no-pool: never)
  std::vector<std::string> volumes;  // -v HOSTDIR:TARGET[:ro]
  std::string rootfs;                // --rootfs DIR: run from DIR instead of an image
};

constexpr uint64_t kDefaultMemoryMib = 256;

uint64_t VmMemoryMib(const RunOptions& o) {
  return o.memory_mib ? o.memory_mib : kDefaultMemoryMib;
}
int VmCpus(const RunOptions& o) { return o.cpus ? o.cpus : 1; }

Result<void> Validate(const RunOptions& o) {
  UVM_CHECK(runtime::ValidateVmShape(VmMemoryMib(o), VmCpus(o)));
  if (o.isolation != "vm" && o.isolation != "process") {
    return Err(ErrorCode::kInvalidArgument, "--isolation " + o.isolation +
                                                ": `vm` (its own utility VM) or `process` (host "
                                                "processes under runc)");
  }
  if (o.isolation == "process" && o.net != "none") {
    return Err(ErrorCode::kUnsupported,
               "--net " + o.net +
                   " is for a VM's NIC; with --isolation process the container "
                   "has loopback only (--net none)");
  }
  if (o.net != "none" && o.net != "tap") {
    return Err(ErrorCode::kInvalidArgument,
               "--net " + o.net + ": must be `none` (loopback only) or `tap` (a tap of its own)");
  }
  return {};
}

// The run's shares: --rootfs and each -v, checked.
Result<runtime::ContainerShares> Shares(const RunOptions& o) {
  runtime::ContainerShares shares;
  if (!o.rootfs.empty()) {
    UVM_TRY(shares.rootfs_dir, Context(ExistingDirectory(o.rootfs), "--rootfs"));
  }
  for (const std::string& flag : o.volumes) {
    UVM_TRY(runtime::VolumeSpec v, Context(ParseVolumeFlag(flag), "-v"));
    shares.volumes.push_back(std::move(v));
  }
  if (shares.count() > static_cast<size_t>(runtime::kMaxShares)) {
    return Err(ErrorCode::kInvalidArgument, "at most " + std::to_string(runtime::kMaxShares) +
                                                " volumes (-v and --rootfs) a run");
  }
  return shares;
}

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

std::optional<std::string> HostEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (!v) return std::nullopt;
  return std::string(v);
}

// --isolation process: the same container as host processes under the host's runc.
Result<int> RunInProcesses(const RunOptions& o, const std::string& image_disk,
                           const runtime::ContainerShares& shares, agent::ExecRequest exec) {
  const auto runc = FindInPath("runc");
  if (!runc) {
    return Err(ErrorCode::kNotFound,
               "--isolation process runs the container with runc, which is not in PATH "
               "(apt-get install runc)");
  }
  runtime::ProcessRunSpec spec;
  spec.state_root = o.root;
  spec.image_disk = image_disk;
  spec.rootfs_dir = shares.rootfs_dir;
  spec.exec = std::move(exec);
  spec.volumes = shares.volumes;
  if (o.memory_mib) spec.limits.memory_mib = o.memory_mib;
  if (o.cpus) spec.limits.cpus = o.cpus;
  spec.interactive = o.interactive;
  spec.runc = *runc;
  return runtime::RunProcessContainer(spec);
}

// The container's exit status (128+n after signal n; 126/127 when the command cannot be run or
// is not found); an error for uvm's own failures (exit 125).
Result<int> RunContainer(const RunOptions& o) {
  const PhaseTimer timer("run: ");
  UVM_CHECK(Validate(o));
  const bool in_vm = o.isolation == "vm";
  runtime::TemplateShape shape =
      runtime::BuiltinTemplateShape(VmMemoryMib(o), VmCpus(o), o.net == "tap");
  for (const auto& f : {shape.kernel, shape.initrd}) {
    if (in_vm && ::access(f.c_str(), R_OK) != 0) {
      return Err(ErrorCode::kNotFound, f + " is missing: run `make images`");
    }
  }
  UVM_TRY(runtime::ContainerShares shares, Shares(o));
  if (in_vm) UVM_CHECK(runtime::RequireLinuxGuests("uvm lab -- uvm run ..."));
  runtime::ExecOverrides overrides{o.command, o.env, o.workdir, o.user, o.tty};
  if (o.tty) std::tie(overrides.rows, overrides.cols) = TerminalSize();
  std::string what = o.image;
  store::ImageConfig config;
  if (shares.rootfs_dir.empty()) {
    UVM_TRY(store::ImageStore store, store::ImageStore::Open(o.root, runtime::BuiltinImagesDir()));
    UVM_TRY(store::ImageRecord image, store.Resolve(o.image));
    timer.Mark("host checked, image resolved");
    // The template is made for this image: its clones find the image mounted and in their page
    // cache.
    shape.image_disk = image.disk_path;
    shape.image_name = o.image;
    config = image.config;
  } else {
    // No image: the word where IMAGE would be starts the command.
    overrides.command.insert(overrides.command.begin(), o.image);
    what = "--rootfs " + shares.rootfs_dir;
  }
  shape.shares = static_cast<int>(shares.count());
  UVM_TRY(agent::ExecRequest exec, runtime::MakeExecRequest(what, config, overrides, HostEnv));
  if (!in_vm) return RunInProcesses(o, shape.image_disk, shares, std::move(exec));
  runtime::UseShares(shares, exec);
  // One way into a container: crun in the VM runs the config process isolation gives runc.
  exec.hostname = RandomHexId(12);
  exec.bundle = agent::OciBundle{{}, runtime::VmRunConfigJson(exec), "uvm-run", ""};

  // Signals are for the container: block them before any thread starts (the VM's threads inherit
  // the mask) and take them through the relay's signalfd.
  agent::BlockRelayedSignals();
  runtime::SandboxSpec spec{o.root, shape, o.cold, o.pool, runtime::ShareConfigs(shares)};
  auto sandbox = runtime::Sandbox::Create(spec, timer);
  if (!sandbox && sandbox.error().code == ErrorCode::kInterrupted) {
    return 128 + runtime::PendingStopSignal();  // given up while the VM started
  }
  if (!sandbox) return tl::unexpected(sandbox.error());

  runtime::ContainerIo io{o.interactive ? STDIN_FILENO : -1, STDOUT_FILENO, STDERR_FILENO};
  runtime::ContainerHooks hooks;
  int terminations = 0;
  hooks.signal_to_send = [&](int signo) {
    // docker: the first SIGINT/SIGTERM/SIGHUP goes to the process, a second one kills it.
    const bool termination = signo == SIGINT || signo == SIGTERM || signo == SIGHUP;
    return termination && ++terminations > 1 ? SIGKILL : signo;
  };
  hooks.terminal_size = TerminalSize;
  Result<runtime::ContainerExit> exit = [&] {
    std::optional<RawTerminal> raw;
    if (o.tty) raw.emplace(STDIN_FILENO);
    return runtime::RunContainer(**sandbox, std::move(exec), io, hooks, timer);
  }();
  if (!exit) return tl::unexpected(exit.error());
  if (!exit->problem.empty()) std::fprintf(stderr, "uvm: %s\n", exit->problem.c_str());
  (*sandbox)->Stop();
  return exit->code;
}

}  // namespace

void RegisterRunCommand(CommandTable& table) {
  auto o = std::make_shared<RunOptions>();
  auto cmd = table.root.Sub("run", "Run a command from an image in a new utility VM");
  cmd.Flag("--rm", o->remove, "remove the container when it exits (always true)");
  cmd.Flag("-i,--interactive", o->interactive, "keep stdin open and pass it on");
  cmd.Flag("-t,--tty", o->tty, "give the process a terminal");
  cmd.Option("-e,--env", o->env, "K=V, or K to pass uvm's own K");
  cmd.Option("-w,--workdir", o->workdir, "working directory inside the container");
  cmd.Option("-u,--user", o->user, "user[:group] (names or numbers)");
  cmd.Option("--memory", o->memory_mib,
             "the VM's RAM in MiB (default 256); with --isolation process, a memory limit");
  cmd.Option("--cpus", o->cpus,
             "the VM's vCPUs (1-16, default 1); with --isolation process, a CPU limit");
  cmd.Option("--net", o->net, "none").ShowDefault();
  cmd.Option("--isolation", o->isolation,
             "vm (its own utility VM) or process (host processes under runc)")
      .ShowDefault();
  cmd.Flag("--cold", o->cold, "boot the VM instead of cloning a template");
  cmd.Flag("--no-pool{false}", o->pool,
           "clone the template here even when `uvm pool` has a clone ready");
  cmd.Option("-v,--volume", o->volumes,
             "HOSTDIR:TARGET[:ro]: the host directory HOSTDIR at TARGET in the container");
  cmd.Option("--rootfs", o->rootfs,
             "DIR: run from the directory DIR instead of an image, read-write (no IMAGE)");
  cmd.Option("image", o->image, "image name (see `uvm image ls`; busybox is built in)").Required();
  cmd.Footer(
      "CMD [ARG...] after IMAGE replace the image's Cmd (default: the image's). With --rootfs "
      "there is no IMAGE: the words after the options are the command.");
  table.rewrites.push_back([root = table.root, cmd, o](std::vector<std::string>& args) {
    o->command = SplitRunCommand(root, cmd, args);
  });
  OnParsed(cmd, table, WithRoot(o, table.global, RunContainer));
}

}  // namespace uvm::cli
