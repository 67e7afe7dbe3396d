#include "oci/vm_runtime.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "base/fs.h"
#include "base/phase_timer.h"
#include "base/quoted.h"
#include "base/unique_fd.h"
#include "oci/bundle_isolation.h"
#include "oci/router.h"
#include "oci/runtime_log.h"
#include "oci/vm_bundle.h"
#include "oci/vm_state.h"
#include "runtime/agent/stdio_relay.h"
#include "runtime/container.h"
#include "runtime/host_check.h"
#include "runtime/paths.h"
#include "runtime/sandbox.h"
#include "runtime/template_shape.h"

namespace uvm::oci {
namespace {

constexpr int kFailure = 1;           // runc's status for a failed command
constexpr int kKeeperFailure = 125;   // the keeper's own failure after start (docker's 125)
constexpr char kStateFile[] = "state.json";
constexpr char kStartedFile[] = "started";
constexpr char kSocketName[] = "keeper.sock";
constexpr uint64_t kMemoryMib = 256;  // the VM's shape until linux.resources size it
constexpr int kCpus = 1;

int Fail(const RuntimeArgs& args, const std::string& message) {
  ReportError(args, message);
  return kFailure;
}

std::string StateDir(const RuntimeArgs& args, const std::string& id) {
  return VmRoot(args) + "/" + id;
}

// The signals the keeper's relay passes into the VM (stdio_relay.h); SIGKILL ends the keeper,
// and the VM with it.
bool Forwarded(int signo) {
  return signo == SIGINT || signo == SIGTERM || signo == SIGHUP || signo == SIGQUIT ||
         signo == SIGUSR1 || signo == SIGUSR2;
}

// The keeper's socket, named through the state directory's descriptor: a sun_path holds 108
// bytes, a state directory under an engine's root with a 64-digit ID may not fit.
struct SocketAddress {
  UniqueFd dir;
  sockaddr_un addr{};
};
Result<SocketAddress> KeeperAddress(const std::string& state_dir) {
  SocketAddress out;
  out.dir.Reset(::open(state_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!out.dir.valid()) return ErrnoErr("open " + state_dir);
  out.addr.sun_family = AF_UNIX;
  std::snprintf(out.addr.sun_path, sizeof out.addr.sun_path, "/proc/self/fd/%d/%s",
                out.dir.get(), kSocketName);
  return out;
}

struct Container {
  VmContainerRecord record;
  VmStatus status = VmStatus::kStopped;
};

Result<Container> Load(const RuntimeArgs& args, const std::string& id) {
  const std::string dir = StateDir(args, id);
  auto text = ReadFileLimited(dir + "/" + kStateFile, 1 << 20);
  if (!text) return Err("container " + id + " does not exist");
  UVM_TRY(VmContainerRecord record, ParseRecord(*text));
  Container c{record, VmStatus::kStopped};
  const auto start = LiveProcessStart(record.pid);
  if (start && *start == record.pid_start) {
    struct stat st;
    c.status = ::stat((dir + "/" + kStartedFile).c_str(), &st) == 0 ? VmStatus::kRunning
                                                                     : VmStatus::kCreated;
  }
  return c;
}

Result<void> WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoErr("write");
    done += static_cast<size_t>(n);
  }
  return {};
}

// Everything `fd` gives until end of file or `max` bytes, waiting at most `timeout`.
std::string ReadReply(int fd, size_t max, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[512];
  while (out.size() < max) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out.substr(0, max);
}

// ---- the keeper: the container's process on the host ----

struct KeeperPlan {
  std::string state_dir;
  VmBundle bundle;
};

// Waits, in the created state, for `start` on the keeper's socket: the connection to answer on,
// or the signal that ended the wait (128+N is then the container's status).
struct StartOrSignal {
  UniqueFd connection;
  int signo = 0;
};
StartOrSignal WaitForStart(int listener) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
  UniqueFd signals(::signalfd(-1, &set, SFD_CLOEXEC));
  for (;;) {
    pollfd p[2] = {{listener, POLLIN, 0}, {signals.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return {UniqueFd(), SIGTERM};
    }
    if (p[1].revents & POLLIN) {
      signalfd_siginfo info{};
      if (::read(signals.get(), &info, sizeof info) == sizeof info) {
        return {UniqueFd(), static_cast<int>(info.ssi_signo)};
      }
    }
    if (p[0].revents & POLLIN) {
      UniqueFd c(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
      if (!c.valid()) continue;
      if (ReadReply(c.get(), 16, std::chrono::seconds(5)) == "start\n") return {std::move(c), 0};
      (void)WriteAll(c.get(), "error: unknown request\n");
    }
  }
}

int RunKeeper(const RuntimeArgs& args, const KeeperPlan& plan, UniqueFd ready) {
  // The container's stdio are the fds create inherited; the keeper's own output would land in the
  // container's streams, so it goes nowhere and errors go to the engine's log.
  UniqueFd in(::fcntl(0, F_DUPFD_CLOEXEC, 3)), out(::fcntl(1, F_DUPFD_CLOEXEC, 3)),
      err(::fcntl(2, F_DUPFD_CLOEXEC, 3));
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  for (int fd = 0; fd < 3; ++fd) ::dup2(null.get(), fd);
  auto not_ready = [&](const std::string& message) {
    (void)WriteAll(ready.get(), message);
    return kFailure;
  };

  runtime::TemplateShape shape = runtime::BuiltinTemplateShape(kMemoryMib, kCpus);
  shape.shares = static_cast<int>(plan.bundle.shares.size());
  for (const auto& f : {shape.kernel, shape.initrd}) {
    if (::access(f.c_str(), R_OK) != 0) return not_ready(f + " is missing: run `make images`");
  }
  if (auto linux = runtime::RequireLinuxGuests("uvm lab -- ..."); !linux) {
    return not_ready(linux.error().message);
  }
  const PhaseTimer timer("uvm-runtime: ");
  runtime::SandboxSpec spec{args.uvm_root, shape, false, true, plan.bundle.shares};
  auto sandbox = runtime::Sandbox::Create(spec, timer);
  if (!sandbox) return not_ready("the container's VM: " + sandbox.error().message);

  auto address = KeeperAddress(plan.state_dir);
  if (!address) return not_ready(address.error().message);
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener.valid() ||
      ::bind(listener.get(), reinterpret_cast<sockaddr*>(&address->addr), sizeof address->addr) < 0 ||
      ::listen(listener.get(), 4) < 0) {
    return not_ready(std::string("the keeper's socket: ") + std::strerror(errno));
  }
  (void)WriteAll(ready.get(), "ok");
  ready.Reset();

  StartOrSignal start = WaitForStart(listener.get());
  listener.Reset();
  ::unlinkat(address->dir.get(), kSocketName, 0);
  if (!start.connection.valid()) {
    (*sandbox)->Stop();
    return 128 + start.signo;
  }

  agent::ExecRequest exec;
  exec.bundle = plan.bundle.guest;
  runtime::ContainerHooks hooks;
  hooks.started = [&](int64_t) {
    (void)WriteFileAtomic(plan.state_dir + "/" + kStartedFile, "");
    (void)WriteAll(start.connection.get(), "ok\n");
    start.connection.Reset();
  };
  auto exit = runtime::RunContainer(**sandbox, std::move(exec),
                                    runtime::ContainerIo{in.get(), out.get(), err.get()}, hooks,
                                    timer);
  if (!exit) {
    if (start.connection.valid()) (void)WriteAll(start.connection.get(), exit.error().message);
    ReportError(args, "container " + Quoted(::basename(plan.state_dir.c_str())) + ": " +
                          exit.error().message);
    return kKeeperFailure;
  }
  if (start.connection.valid()) {
    (void)WriteAll(start.connection.get(), exit->problem.empty() ? "the process did not start"
                                                                 : exit->problem);
  } else if (!exit->problem.empty()) {
    ReportError(args, exit->problem);
  }
  (*sandbox)->Stop();
  return exit->code;
}

// ---- the commands ----

int Create(const RuntimeArgs& args, const CommandLine& cl, const std::string& id,
           pid_t* keeper_out) {
  if (!cl.Value("preserve-fds").empty() && cl.Value("preserve-fds") != "0") {
    return Fail(args, "--preserve-fds is not available under VM isolation");
  }
  std::string bundle = cl.Value("bundle");
  if (bundle.empty()) bundle = cl.Value("b");
  if (bundle.empty()) bundle = ".";
  char resolved[PATH_MAX];
  if (!::realpath(bundle.c_str(), resolved)) {
    return Fail(args, "bundle " + Quoted(bundle) + ": " + std::strerror(errno));
  }
  bundle = resolved;
  auto text = ReadFileLimited(bundle + "/config.json", kMaxConfigBytes);
  if (!text) return Fail(args, text.error().message);
  auto planned = PlanVmBundle(*text, bundle, runtime::ShareTag,
                              static_cast<size_t>(runtime::kMaxShares));
  if (!planned) return Fail(args, planned.error().message);

  if (auto made = MakeDirs(VmRoot(args), 0700); !made) return Fail(args, made.error().message);
  const std::string dir = StateDir(args, id);
  if (::mkdir(dir.c_str(), 0700) < 0) {
    if (errno == EEXIST) return Fail(args, "container with id exists: " + id);
    return Fail(args, "mkdir " + dir + ": " + std::strerror(errno));
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return Fail(args, "pipe: " + std::string(std::strerror(errno)));
  UniqueFd ready_read(fds[0]), ready_write(fds[1]);
  const pid_t keeper = ::fork();
  if (keeper < 0) return Fail(args, "fork: " + std::string(std::strerror(errno)));
  if (keeper == 0) {
    ready_read.Reset();
    KeeperPlan plan{dir, std::move(*planned)};
    ::_exit(RunKeeper(args, plan, std::move(ready_write)));
  }
  ready_write.Reset();
  // The keeper answers once its VM is there: a clone takes well under a second, a template made
  // first (or a boot) longer.
  const std::string word = ReadReply(ready_read.get(), 4096, std::chrono::minutes(10));
  if (word != "ok") {
    ::kill(keeper, SIGKILL);
    ::waitpid(keeper, nullptr, 0);
    (void)RemoveTree(dir);
    return Fail(args, word.empty() ? "the container's VM process ended without a word" : word);
  }
  VmContainerRecord record;
  record.id = id;
  record.bundle = bundle;
  record.created = NowRfc3339();
  record.pid = keeper;
  record.pid_start = LiveProcessStart(keeper).value_or(0);
  record.annotations = planned->annotations;
  if (auto w = WriteFileAtomic(dir + "/" + kStateFile, RecordJson(record)); !w) {
    ::kill(keeper, SIGKILL);
    return Fail(args, w.error().message);
  }
  const std::string pid_file = cl.Value("pid-file");
  if (!pid_file.empty()) {
    if (auto w = WriteFileAtomic(pid_file, std::to_string(keeper)); !w) {
      ::kill(keeper, SIGKILL);
      return Fail(args, w.error().message);
    }
  }
  if (keeper_out) *keeper_out = keeper;
  return 0;
}

int Start(const RuntimeArgs& args, const std::string& id) {
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  if (c->status == VmStatus::kStopped) return Fail(args, "cannot start a container that has stopped");
  if (c->status == VmStatus::kRunning) return Fail(args, "cannot start an already running container");
  auto address = KeeperAddress(StateDir(args, id));
  if (!address) return Fail(args, address.error().message);
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.valid() ||
      ::connect(sock.get(), reinterpret_cast<sockaddr*>(&address->addr), sizeof address->addr) <
          0) {
    return Fail(args, "container " + id + ": its keeper does not answer: " +
                          std::strerror(errno));
  }
  if (!WriteAll(sock.get(), "start\n")) return Fail(args, "container " + id + ": start failed");
  const std::string reply = ReadReply(sock.get(), 4096, std::chrono::minutes(2));
  if (reply == "ok\n") return 0;
  return Fail(args, "container " + id + ": " +
                        (reply.empty() ? std::string("the process did not start") : reply));
}

int State(const RuntimeArgs& args, const std::string& id) {
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  std::printf("%s\n", StateJson(c->record, c->status).c_str());
  return 0;
}

int Kill(const RuntimeArgs& args, const CommandLine& cl, const std::string& id) {
  const std::string word = cl.operands.size() > 1 ? cl.operands[1] : "SIGTERM";
  const std::optional<int> signo = ParseSignal(word);
  if (!signo) return Fail(args, "invalid signal " + Quoted(word));
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  if (c->status == VmStatus::kStopped) return Fail(args, "container not running");
  if (*signo == 0) return 0;
  if (*signo != SIGKILL && !Forwarded(*signo)) {
    return Fail(args, "signal " + word +
                          " cannot reach a VM-isolated container yet (KILL, TERM, INT, HUP, QUIT, "
                          "USR1 and USR2 can)");
  }
  if (::kill(static_cast<pid_t>(c->record.pid), *signo) < 0) {
    return Fail(args, "kill: " + std::string(std::strerror(errno)));
  }
  return 0;
}

int Delete(const RuntimeArgs& args, const CommandLine& cl, const std::string& id) {
  auto c = Load(args, id);
  const std::string dir = StateDir(args, id);
  if (!c) {
    // A state directory without a readable record is what a create cut short leaves.
    struct stat st;
    if (cl.Has("force") && ::stat(dir.c_str(), &st) == 0) return RemoveTree(dir) ? 0 : kFailure;
    return Fail(args, c.error().message);
  }
  if (c->status != VmStatus::kStopped) {
    if (!cl.Has("force") && !cl.Has("f")) {
      return Fail(args, "cannot delete container " + id + " that is not stopped: " +
                            VmStatusName(c->status));
    }
    ::kill(static_cast<pid_t>(c->record.pid), SIGKILL);
    for (int i = 0; i < 1000 && LiveProcessStart(c->record.pid) == c->record.pid_start; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (auto r = RemoveTree(dir); !r) return Fail(args, r.error().message);
  return 0;
}

}  // namespace

int RunVmCommand(const RuntimeArgs& args) {
  auto cl = ParseCommandLine(args.command, args.command_args);
  if (!cl) return Fail(args, cl.error().message);
  if (cl->operands.empty()) return Fail(args, args.command + ": a container ID is required");
  const std::string& id = cl->operands[0];
  const std::string& command = args.command;
  if (command == "create") {
    // Signals are the container's: blocked before the keeper (and its VM's threads) exist.
    agent::BlockRelayedSignals();
    return Create(args, *cl, id, nullptr);
  }
  if (command == "run") {
    agent::BlockRelayedSignals();
    pid_t keeper = 0;
    if (int r = Create(args, *cl, id, &keeper); r != 0) return r;
    if (int r = Start(args, id); r != 0) return r;
    if (cl->Has("detach") || cl->Has("d")) return 0;
    int status = 0;
    while (::waitpid(keeper, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  }
  if (command == "start") return Start(args, id);
  if (command == "state") return State(args, id);
  if (command == "kill") return Kill(args, *cl, id);
  if (command == "delete") return Delete(args, *cl, id);
  return Fail(args, command + " is not available for VM-isolated containers yet (container " +
                        id + ")");
}

}  // namespace uvm::oci
