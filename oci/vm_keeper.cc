#include "oci/vm_keeper.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <vector>

#include "base/fs.h"
#include "base/log.h"
#include "base/phase_timer.h"
#include "base/quoted.h"
#include "guest-agent/protocol/frame.h"
#include "oci/console.h"
#include "oci/runtime_log.h"
#include "oci/vm_layout.h"
#include "runtime/container.h"
#include "runtime/host_check.h"
#include "runtime/sandbox.h"
#include "runtime/template_shape.h"
#include "runtime/vm_shape.h"

namespace uvm::oci {
namespace {

using agent::WriteAll;  // MSG_NOSIGNAL on sockets: an engine that hung up cannot kill a keeper

// Waits, in the created state, for `start` on the keeper's socket: the connection to answer on,
// or the signal that ended the wait (128+N is then the container's status).
struct StartOrSignal {
  UniqueFd connection;
  int signo = 0;
};
StartOrSignal WaitForStart(int listener) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : kForwardedSignals) sigaddset(&set, s);
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
      // The line, not end of file: `start` keeps its side open for the answer.
      if (ReadReply(c.get(), 16, std::chrono::seconds(5), ReplyEnd::kLine) == "start\n") {
        return {std::move(c), 0};
      }
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
  // A diagnostic: the keeper's phase timings (uvm's debug log) appended to this file.
  if (const char* trace = std::getenv("UVM_RUNTIME_TRACE"); trace && *trace) {
    UniqueFd log(::open(trace, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (log.valid()) {
      ::dup2(log.get(), 2);
      SetLogLevel(LogLevel::kDebug);
    }
  }
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
    // The stdio `create` inherited is then the runtime's own, not the process's: containerd's
    // shim reads it to end of file before `create` counts as done (as runc's exits), so the
    // keeper must not hold it.
    k.in.Reset();
    k.out.Reset();
    k.err.Reset();
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

}  // namespace

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

  auto address = SocketIn(plan.state_dir, kSocketName);
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

}  // namespace uvm::oci
