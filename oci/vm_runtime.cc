#include "oci/vm_runtime.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>
#include <tuple>

#include "base/fs.h"
#include "base/json.h"
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
#include "runtime/vm_shape.h"

namespace uvm::oci {
namespace {

constexpr int kFailure = 1;          // runc's status for a failed command
constexpr int kKeeperFailure = 125;  // the keeper's own failure after start (docker's 125)
constexpr char kStateFile[] = "state.json";
constexpr char kStartedFile[] = "started";
constexpr char kPausedFile[] = "paused";
constexpr char kSocketName[] = "keeper.sock";
constexpr char kAgentFile[] = "agent";  // the VM agent's socket, for exec

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
  std::snprintf(out.addr.sun_path, sizeof out.addr.sun_path, "/proc/self/fd/%d/%s", out.dir.get(),
                kSocketName);
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
    if (::stat((dir + "/" + kPausedFile).c_str(), &st) == 0) {
      c.status = VmStatus::kPaused;
    } else if (::stat((dir + "/" + kStartedFile).c_str(), &st) == 0) {
      c.status = VmStatus::kRunning;
    } else {
      c.status = VmStatus::kCreated;
    }
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
  int terminal = -1;  // with a terminal: the slave of the pty whose master the engine has
};

// A pty pair for a container with a terminal (both ends close-on-exec).
struct Pty {
  UniqueFd master, slave;
};
Result<Pty> OpenPty() {
  Pty pty;
  pty.master.Reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!pty.master.valid()) return ErrnoErr("open /dev/ptmx");
  if (::grantpt(pty.master.get()) < 0 || ::unlockpt(pty.master.get()) < 0) {
    return ErrnoErr("unlockpt");
  }
  char name[64];
  if (::ptsname_r(pty.master.get(), name, sizeof name) != 0) return ErrnoErr("ptsname");
  pty.slave.Reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!pty.slave.valid()) return ErrnoErr(std::string("open ") + name);
  return pty;
}

// Hands `fd` to the engine's console socket as runc does: one message, the descriptor in
// SCM_RIGHTS, the terminal's name as its bytes. The socket is named through its directory's
// descriptor (sun_path holds 108 bytes).
Result<void> SendToConsoleSocket(const std::string& path, int fd) {
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  UniqueFd dir_fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) return ErrnoErr("console socket " + Quoted(path));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (std::snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dir_fd.get(),
                    name.c_str()) >= static_cast<int>(sizeof addr.sun_path)) {
    return Err("console socket " + Quoted(path) + ": its name is too long");
  }
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.valid() || ::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    return ErrnoErr("console socket " + Quoted(path));
  }
  char data[] = "/dev/ptmx";
  iovec iov{data, sizeof data - 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  if (::sendmsg(sock.get(), &msg, MSG_NOSIGNAL) < 0) {
    return ErrnoErr("console socket " + Quoted(path));
  }
  return {};
}

std::pair<uint16_t, uint16_t> WindowSize(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
    return {ws.ws_row, ws.ws_col};
  }
  return {24, 80};
}

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

// Closes every descriptor above 2 but `keep`: the keeper lives as long as the container, and a
// descriptor of the engine's that create inherited by accident must not stay open that long.
void CloseInheritedFds(const std::vector<int>& keep) {
  std::vector<int> open_fds;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(dir)) {
      if (e->d_name[0] >= '0' && e->d_name[0] <= '9') open_fds.push_back(std::atoi(e->d_name));
    }
    ::closedir(dir);  // its own descriptor is in the list, closed already
  }
  for (int fd : open_fds) {
    if (fd > 2 && std::find(keep.begin(), keep.end(), fd) == keep.end()) ::close(fd);
  }
}

// A process standing for a container's process on the host (the container's keeper, or an
// exec's) keeps the stdio it inherited for that process: its own output would land in the
// process's streams, so fds 0-2 go to /dev/null (errors go to the engine's log), and every other
// inherited descriptor is closed. With a terminal (the slave of the pty the engine has), that is
// the process's stdio and the keeper's controlling terminal, so its window-size changes arrive as
// SIGWINCH (and its hang-up as SIGHUP) for the relay to pass on; raw, because the VM's own
// terminal does the line discipline.
struct KeeperIo {
  UniqueFd in, out, err, null;
  runtime::ContainerIo io;
};
KeeperIo TakeStdio(int terminal, int ready) {
  KeeperIo k;
  k.in.Reset(::fcntl(0, F_DUPFD_CLOEXEC, 3));
  k.out.Reset(::fcntl(1, F_DUPFD_CLOEXEC, 3));
  k.err.Reset(::fcntl(2, F_DUPFD_CLOEXEC, 3));
  k.null.Reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
  for (int fd = 0; fd < 3; ++fd) ::dup2(k.null.get(), fd);
  CloseInheritedFds({k.in.get(), k.out.get(), k.err.get(), k.null.get(), ready, terminal});
  k.io = runtime::ContainerIo{k.in.get(), k.out.get(), k.err.get()};
  if (terminal >= 0) {
    ::setsid();
    ::ioctl(terminal, TIOCSCTTY, 0);
    termios raw{};
    if (::tcgetattr(terminal, &raw) == 0) {
      ::cfmakeraw(&raw);
      ::tcsetattr(terminal, TCSANOW, &raw);
    }
    k.io = runtime::ContainerIo{terminal, terminal, terminal};
  }
  return k;
}

// The request and hooks for a process with or without a terminal.
void UseTerminal(int terminal, agent::ExecRequest& exec, runtime::ContainerHooks& hooks) {
  if (terminal < 0) return;
  exec.tty = true;
  std::tie(exec.rows, exec.cols) = WindowSize(terminal);
  hooks.terminal_size = [terminal] { return WindowSize(terminal); };
}

int RunKeeper(const RuntimeArgs& args, const KeeperPlan& plan, UniqueFd ready) {
  KeeperIo stdio = TakeStdio(plan.terminal, ready.get());
  auto not_ready = [&](const std::string& message) {
    (void)WriteAll(ready.get(), message);
    return kFailure;
  };

  runtime::TemplateShape shape =
      runtime::BuiltinTemplateShape(plan.bundle.memory_mib, plan.bundle.cpus);
  shape.shares = static_cast<int>(plan.bundle.shares.size());
  for (const auto& f : {shape.kernel, shape.initrd}) {
    if (::access(f.c_str(), R_OK) != 0) return not_ready(f + " is missing: run `make images`");
  }
  if (auto linux = runtime::RequireLinuxGuests("uvm lab -- ..."); !linux) {
    return not_ready(linux.error().message);
  }
  if (auto size = runtime::ValidateVmShape(shape.memory_mib, shape.cpus); !size) {
    return not_ready("the container's resources: " + size.error().message);
  }
  const PhaseTimer timer("uvm-runtime: ");
  runtime::SandboxSpec spec{args.uvm_root, shape, false, true, plan.bundle.shares};
  auto sandbox = runtime::Sandbox::Create(spec, timer);
  if (!sandbox) return not_ready("the container's VM: " + sandbox.error().message);

  auto address = KeeperAddress(plan.state_dir);
  if (!address) return not_ready(address.error().message);
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener.valid() ||
      ::bind(listener.get(), reinterpret_cast<sockaddr*>(&address->addr), sizeof address->addr) <
          0 ||
      ::listen(listener.get(), 4) < 0) {
    return not_ready(std::string("the keeper's socket: ") + std::strerror(errno));
  }
  if (auto w = WriteFileAtomic(plan.state_dir + "/" + kAgentFile, (*sandbox)->agent_vsock_uds());
      !w) {
    return not_ready(w.error().message);
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
  UseTerminal(plan.terminal, exec, hooks);
  hooks.started = [&](int64_t) {
    (void)WriteFileAtomic(plan.state_dir + "/" + kStartedFile, "");
    (void)WriteAll(start.connection.get(), "ok\n");
    start.connection.Reset();
  };
  auto exit = runtime::RunContainer(**sandbox, std::move(exec), stdio.io, hooks, timer);
  if (!exit) {
    if (start.connection.valid()) (void)WriteAll(start.connection.get(), exit.error().message);
    ReportError(args, "container " + Quoted(::basename(plan.state_dir.c_str())) + ": " +
                          exit.error().message);
    return kKeeperFailure;
  }
  if (start.connection.valid()) {
    (void)WriteAll(start.connection.get(),
                   exit->problem.empty() ? "the process did not start" : exit->problem);
  } else if (!exit->problem.empty()) {
    ReportError(args, exit->problem);
  }
  (*sandbox)->Stop();
  return exit->code;
}

// An exec's process on the host: connects to the VM's agent and runs `process` in the
// container (crun exec in the VM), relaying stdio (or the terminal); `ready` hears "ok" once it
// runs, or why not. Returns the process's status.
int RunExec(const RuntimeArgs& args, const std::string& agent_uds, const std::string& process,
            int terminal, UniqueFd ready) {
  KeeperIo stdio = TakeStdio(terminal, ready.get());
  const PhaseTimer timer("uvm-runtime exec: ");
  auto client =
      agent::AgentClient::Connect(agent::AgentAddress::Vsock(agent_uds), std::chrono::seconds(10));
  if (!client) {
    (void)WriteAll(ready.get(), "the container's VM does not answer: " + client.error().message);
    return kFailure;
  }
  agent::ExecRequest exec;
  exec.bundle = agent::OciBundle{{}, "", kVmContainerName, process};
  runtime::ContainerHooks hooks;
  UseTerminal(terminal, exec, hooks);
  hooks.started = [&](int64_t) {
    (void)WriteAll(ready.get(), "ok");
    ready.Reset();
  };
  auto exit = runtime::RunInVm(*client, std::move(exec), stdio.io, hooks, timer);
  if (!exit) {
    if (ready.valid()) (void)WriteAll(ready.get(), exit.error().message);
    ReportError(args, "exec: " + exit.error().message);
    return kKeeperFailure;
  }
  if (ready.valid()) {
    (void)WriteAll(ready.get(),
                   exit->problem.empty() ? "the process did not start" : exit->problem);
  }
  return exit->code;
}

// The process an exec runs: --process FILE, or the container's own process with the command's
// arguments and flags over it (runc's rules).
Result<nlohmann::json> ExecProcess(const CommandLine& cl, const VmContainerRecord& record) {
  using nlohmann::json;
  const std::string file = !cl.Value("process").empty() ? cl.Value("process") : cl.Value("p");
  if (!file.empty()) {
    UVM_TRY(std::string text, ReadFileLimited(file, agent::kMaxBundleConfigBytes));
    return ParseJsonObject(text, "process " + Quoted(file));
  }
  if (cl.operands.size() < 2) return Err("exec: a command is required (or --process FILE)");
  UVM_TRY(std::string text, ReadFileLimited(record.bundle + "/config.json", kMaxConfigBytes));
  UVM_TRY(json config, ParseJsonObject(text, "config.json"));
  UVM_TRY(json process, OptObject(config, "process", "config.json"));
  process["args"] = std::vector<std::string>(cl.operands.begin() + 1, cl.operands.end());
  process["terminal"] = cl.Has("tty") || cl.Has("t");
  for (const char* name : {"cwd"}) {
    if (!cl.Value(name).empty()) process["cwd"] = cl.Value(name);
  }
  for (const char* name : {"env", "e"}) {
    auto it = cl.lists.find(name);
    if (it == cl.lists.end()) continue;
    if (!process["env"].is_array()) process["env"] = json::array();
    for (const auto& kv : it->second) process["env"].push_back(kv);
  }
  std::string user = !cl.Value("user").empty() ? cl.Value("user") : cl.Value("u");
  if (!user.empty()) {
    const size_t colon = user.find(':');
    const std::string uid = user.substr(0, colon);
    const std::string gid = colon == std::string::npos ? "" : user.substr(colon + 1);
    auto number = [](const std::string& w) {
      return !w.empty() && w.size() < 10 && std::all_of(w.begin(), w.end(), ::isdigit);
    };
    if (!number(uid) || (!gid.empty() && !number(gid))) {
      return Err("exec --user " + Quoted(user) + ": UID[:GID] as numbers");
    }
    process["user"]["uid"] = std::stoul(uid);
    process["user"]["gid"] = gid.empty() ? 0ul : std::stoul(gid);
  }
  if (cl.Has("no-new-privs")) process["noNewPrivileges"] = true;
  return process;
}

// Forks `child` (its result is the child's exit status; it gets the write end of a pipe) and
// waits for the child's word on the pipe: "ok", or why not (the child is then killed and
// reaped). Returns the child's pid after "ok".
Result<pid_t> ForkAndWaitForOk(const std::function<int(UniqueFd ready)>& child,
                               std::chrono::milliseconds timeout, const std::string& silent) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return ErrnoErr("pipe");
  UniqueFd ready_read(fds[0]), ready_write(fds[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return ErrnoErr("fork");
  if (pid == 0) {
    ready_read.Reset();
    ::_exit(child(std::move(ready_write)));
  }
  ready_write.Reset();
  const std::string word = ReadReply(ready_read.get(), 4096, timeout);
  if (word == "ok") return pid;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return Err(word.empty() ? silent : word);
}

// The exit status of child `pid`, as a shell reports it.
int WaitForChild(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

// With a terminal: a pty whose master went to the engine's console socket; its slave, for the
// process's side. Without: no descriptor. runc's rules on --console-socket.
Result<UniqueFd> TerminalForEngine(bool terminal, const std::string& console_socket) {
  if (terminal && console_socket.empty()) {
    return Err("cannot allocate tty if runc will detach without setting console socket");
  }
  if (!terminal && !console_socket.empty()) {
    return Err("cannot use console socket if runc will not detach or allocate tty");
  }
  if (!terminal) return UniqueFd();
  UVM_TRY(Pty pty, OpenPty());
  UVM_CHECK(SendToConsoleSocket(console_socket, pty.master.get()));
  return std::move(pty.slave);
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
  auto planned =
      PlanVmBundle(*text, bundle, runtime::ShareTag, static_cast<size_t>(runtime::kMaxShares));
  if (!planned) return Fail(args, planned.error().message);
  for (const auto& warning : planned->warnings) LogLine(args, "warning", warning);

  auto terminal = TerminalForEngine(planned->terminal, cl.Value("console-socket"));
  if (!terminal) return Fail(args, terminal.error().message);

  if (auto made = MakeDirs(VmRoot(args), 0700); !made) return Fail(args, made.error().message);
  const std::string dir = StateDir(args, id);
  if (::mkdir(dir.c_str(), 0700) < 0) {
    if (errno == EEXIST) return Fail(args, "container with id exists: " + id);
    return Fail(args, "mkdir " + dir + ": " + std::strerror(errno));
  }
  // The keeper answers once its VM is there: a clone takes well under a second, a template made
  // first (or a boot) longer.
  auto keeper_pid = ForkAndWaitForOk(
      [&](UniqueFd ready) {
        KeeperPlan plan{dir, std::move(*planned), terminal->get()};
        return RunKeeper(args, plan, std::move(ready));
      },
      std::chrono::minutes(10), "the container's VM process ended without a word");
  terminal->Reset();
  if (!keeper_pid) {
    (void)RemoveTree(dir);
    return Fail(args, keeper_pid.error().message);
  }
  const pid_t keeper = *keeper_pid;
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

int Exec(const RuntimeArgs& args, const CommandLine& cl, const std::string& id) {
  for (const char* refused :
       {"cap", "c", "additional-gids", "g", "apparmor", "process-label", "l", "cgroup"}) {
    if (cl.values.count(refused)) {
      return Fail(args, std::string("exec --") + refused +
                            " is not available for VM-isolated containers yet");
    }
  }
  if (!cl.Value("preserve-fds").empty() && cl.Value("preserve-fds") != "0") {
    return Fail(args, "--preserve-fds is not available under VM isolation");
  }
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  if (c->status == VmStatus::kPaused) return Fail(args, "cannot exec in a paused container");
  if (c->status != VmStatus::kRunning) return Fail(args, "cannot exec in a stopped container");
  auto process = ExecProcess(cl, c->record);
  if (!process) return Fail(args, process.error().message);
  const bool terminal = process->value("terminal", false);
  (*process)["terminal"] = false;  // the agent gives the terminal (vm_bundle.h)
  auto agent_uds = ReadFileLimited(StateDir(args, id) + "/" + kAgentFile, 4096);
  if (!agent_uds) return Fail(args, "container " + id + ": " + agent_uds.error().message);

  auto slave = TerminalForEngine(terminal, cl.Value("console-socket"));
  if (!slave) return Fail(args, slave.error().message);
  auto started = ForkAndWaitForOk(
      [&](UniqueFd ready) {
        return RunExec(args, *agent_uds, process->dump(), slave->get(), std::move(ready));
      },
      std::chrono::minutes(2), "the process did not start");
  slave->Reset();
  if (!started) return Fail(args, "exec: " + started.error().message);
  const pid_t pid = *started;
  const std::string pid_file = cl.Value("pid-file");
  if (!pid_file.empty()) {
    if (auto w = WriteFileAtomic(pid_file, std::to_string(pid)); !w) {
      return Fail(args, w.error().message);
    }
  }
  if (cl.Has("detach") || cl.Has("d")) return 0;
  return WaitForChild(pid);
}

// Everything written to memfd `fd`, from its start.
std::string ReadBack(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  ::lseek(fd, 0, SEEK_SET);
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && out.size() < (1 << 20)) {
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// crun `words` about the container, run by the agent in the VM's own root: its output, or why
// it failed.
Result<std::string> CrunInVm(const RuntimeArgs& args, const std::string& id,
                             const std::vector<std::string>& words) {
  UVM_TRY(std::string agent_uds, ReadFileLimited(StateDir(args, id) + "/" + kAgentFile, 4096));
  auto client =
      agent::AgentClient::Connect(agent::AgentAddress::Vsock(agent_uds), std::chrono::seconds(10));
  if (!client) return Err("the container's VM does not answer: " + client.error().message);
  agent::ExecRequest exec;
  exec.argv = {"crun", "--cgroup-manager=cgroupfs"};
  exec.argv.insert(exec.argv.end(), words.begin(), words.end());
  exec.argv.push_back(kVmContainerName);
  UniqueFd out(::memfd_create("uvm-crun-out", MFD_CLOEXEC)),
      err(::memfd_create("uvm-crun-err", MFD_CLOEXEC));
  UVM_TRY(runtime::ContainerExit exit,
          runtime::RunInVm(*client, std::move(exec), runtime::ContainerIo{-1, out.get(), err.get()},
                           runtime::ContainerHooks{}, PhaseTimer()));
  if (exit.code != 0) {
    std::string why = ReadBack(err.get());
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return Err(why.empty() ? exit.problem : why);
  }
  return ReadBack(out.get());
}

// The container's processes, as the VM sees them (guest pids): crun ps in the VM.
int Ps(const RuntimeArgs& args, const CommandLine& cl, const std::string& id) {
  std::string format = !cl.Value("format").empty() ? cl.Value("format") : cl.Value("f");
  if (format.empty()) format = "table";
  if (format != "table" && format != "json") {
    return Fail(args, "ps --format " + Quoted(format) + ": table or json");
  }
  if (cl.operands.size() > 1) {
    return Fail(args, "ps options for ps(1) are not available for VM-isolated containers");
  }
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  if (c->status == VmStatus::kStopped) {
    return Fail(args, "cannot ps a container that is not running");
  }
  auto out = CrunInVm(args, id, {"ps", "--format", "json"});
  if (!out) return Fail(args, "ps: " + out.error().message);
  auto pids = ParseJsonArrayOfInts(*out);
  if (!pids) return Fail(args, "ps: " + pids.error().message);
  if (format == "json") {
    std::printf("%s\n", nlohmann::json(*pids).dump().c_str());
  } else {
    std::printf("PID\n");
    for (int64_t pid : *pids) std::printf("%lld\n", static_cast<long long>(pid));
  }
  return 0;
}

// pause and resume: the container's cgroup in the VM frozen and thawed (crun pause/resume, the
// cgroup2 freezer), as runc does on a host; the state says paused while the marker is there.
int PauseOrResume(const RuntimeArgs& args, const std::string& id, bool pause) {
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  if (pause && c->status != VmStatus::kRunning) return Fail(args, "container not running");
  if (!pause && c->status != VmStatus::kPaused) return Fail(args, "container not paused");
  auto out = CrunInVm(args, id, {pause ? "pause" : "resume"});
  if (!out) return Fail(args, std::string(pause ? "pause: " : "resume: ") + out.error().message);
  const std::string marker = StateDir(args, id) + "/" + kPausedFile;
  if (pause) {
    if (auto w = WriteFileAtomic(marker, ""); !w) return Fail(args, w.error().message);
  } else {
    ::unlink(marker.c_str());
  }
  return 0;
}

int Start(const RuntimeArgs& args, const std::string& id) {
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  if (c->status == VmStatus::kStopped)
    return Fail(args, "cannot start a container that has stopped");
  if (c->status == VmStatus::kRunning || c->status == VmStatus::kPaused)
    return Fail(args, "cannot start an already running container");
  auto address = KeeperAddress(StateDir(args, id));
  if (!address) return Fail(args, address.error().message);
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.valid() || ::connect(sock.get(), reinterpret_cast<sockaddr*>(&address->addr),
                                 sizeof address->addr) < 0) {
    return Fail(args, "container " + id + ": its keeper does not answer: " + std::strerror(errno));
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
      return Fail(args, "cannot delete container " + id +
                            " that is not stopped: " + VmStatusName(c->status));
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
  if (!ValidContainerId(id)) return Fail(args, "invalid container ID " + Quoted(id));
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
    return WaitForChild(keeper);
  }
  if (command == "start") return Start(args, id);
  if (command == "state") return State(args, id);
  if (command == "kill") return Kill(args, *cl, id);
  if (command == "delete") return Delete(args, *cl, id);
  if (command == "ps") return Ps(args, *cl, id);
  if (command == "pause" || command == "resume") return PauseOrResume(args, id, command == "pause");
  if (command == "exec") {
    agent::BlockRelayedSignals();
    return Exec(args, *cl, id);
  }
  return Fail(args,
              command + " is not available for VM-isolated containers yet (container " + id + ")");
}

}  // namespace uvm::oci
