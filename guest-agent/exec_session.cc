#include "guest-agent/exec_session.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>

#include <cstdio>
#include <thread>

#include "guest-agent/command_check.h"
#include "guest-agent/console_receiver.h"
#include "guest-agent/identity.h"
#include "guest-agent/network.h"
#include "guest-agent/relay.h"
#include "guest-agent/spawn.h"

namespace uvm::agent {
namespace {

// How long the host has to open the stdio connections after ExecAccepted.
constexpr auto kStreamTimeout = std::chrono::seconds(10);

Exit SetupFailure(const std::string& message) {
  Exit e;
  e.error = ExecError::kSetup;
  e.message = message;
  return e;
}

struct Pipe {
  UniqueFd read, write;
};

Result<Pipe> MakePipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return ErrnoErr("pipe");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// A pty pair from the devpts instance whose ptmx is `ptmx`, both ends close-on-exec from the
// start (openpty() cannot do that atomically, and another thread may be cloning at any moment).
// A container has its own devpts instance (container_root.cc): its terminal must come from there,
// or the process's ttyname() finds no /dev/pts/N for it. The peer is opened through the master
// (TIOCGPTPEER), since its name would be looked up in the agent's /dev/pts.
Result<Pipe> MakePty(const std::string& ptmx, uint16_t rows, uint16_t cols) {
  UniqueFd master(open(ptmx.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master.valid()) return ErrnoErr("open " + ptmx);
  int unlock = 0;
  if (ioctl(master.get(), TIOCSPTLCK, &unlock) < 0) return ErrnoErr("unlockpt");
  UniqueFd slave(ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave.valid()) return ErrnoErr("TIOCGPTPEER");
  if (rows && cols) {
    winsize ws{rows, cols, 0, 0};
    ioctl(master.get(), TIOCSWINSZ, &ws);
  }
  return Pipe{std::move(master), std::move(slave)};
}

Exit FromWaitStatus(int status) {
  Exit e;
  if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
  } else {
    e.exit_code = WEXITSTATUS(status);
  }
  return e;
}

}  // namespace

Result<void> ControlChannel::Send(const Message& message) {
  std::lock_guard lock(write_mu_);
  return WriteMessage(fd_.get(), message);
}

std::shared_ptr<ExecSession> ExecSession::Start(AgentContext& ctx,
                                                std::shared_ptr<ControlChannel> control,
                                                uint64_t id, const ExecRequest& request) {
  std::shared_ptr<ExecSession> s(new ExecSession(ctx, control));
  auto fail = [&](const std::string& message) -> std::shared_ptr<ExecSession> {
    control->Send(SetupFailure(message));
    return nullptr;
  };
  auto sockets = ctx.streams.Take(id, std::chrono::steady_clock::now() + kStreamTimeout);
  if (!sockets) return fail(sockets.error().message);
  s->sockets_ = std::move(*sockets);

  // A bundle is crun's to start: the agent's process is `crun run`, in the agent's own root.
  // With a rootfs too (uvm run), the agent mounts that root and crun runs the config on it.
  // The root, once: crun mounts the config's /dev and /sys itself; a spawn without crun gets the
  // agent's own.
  if (request.rootfs) {
    auto root = ContainerRoot::Mount(*request.rootfs, ctx.run_dir + "/exec-" + std::to_string(id),
                                     ctx.images.Find(*request.rootfs), !request.bundle);
    if (!root) return fail("container root: " + root.error().message);
    s->root_.emplace(std::move(*root));
  }
  ExecRequest crun_request;
  std::optional<ConsoleReceiver> console;
  if (request.bundle) {
    BundleAdjust adjust;
    if (request.rootfs) {
      auto user = ResolveUser(s->root_->root(), request.user);
      if (!user) return fail(user.error().message);
      // docker's 127 and 126, and the agent's own line, for a command crun could not start.
      auto command = PlanSpawn(request);
      if (!command) return fail(command.error().message);
      if (auto problem = CheckCommand(s->root_->root(), *command)) {
        Exit e;
        e.error = problem->status == 127 ? ExecError::kNotFound : ExecError::kCannotExecute;
        e.error_errno = problem->error;
        e.message = problem->message;
        for (auto& sock : s->sockets_) sock.Reset();
        control->Send(e);
        return nullptr;
      }
      adjust.root = s->root_->root();
      adjust.user = *user;
    }
    if (request.tty) adjust.terminal = std::make_pair(request.rows, request.cols);
    auto bundle =
        BundleRun::Prepare(*request.bundle, ctx.run_dir + "/bundle-" + std::to_string(id),
                           kBundleShareDir, true, kCrunStateRoot, std::chrono::seconds(10), adjust);
    if (!bundle) return fail("bundle: " + bundle.error().message);
    s->bundle_.emplace(std::move(*bundle));
    if (!s->bundle_->console_socket().empty()) {
      auto listening = ConsoleReceiver::Listen(s->bundle_->console_socket());
      if (!listening) return fail(listening.error().message);
      console.emplace(std::move(*listening));
    }
    crun_request.argv = s->bundle_->Argv();
    crun_request.realtime_ns = request.realtime_ns;
    crun_request.entropy = request.entropy;
    crun_request.network = request.network;
  }
  const ExecRequest& spawned = request.bundle ? crun_request : request;
  auto plan = PlanSpawn(spawned);
  if (!plan) return fail(plan.error().message);
  if (auto id = ApplyIdentity(request, SystemIdentityOps()); !id) return fail(id.error().message);
  if (auto net = ConfigureNetwork(request.network); !net) return fail(net.error().message);
  if (s->root_ && !request.bundle) plan->root = s->root_->root();
  auto credentials = ResolveUser(plan->root, spawned.user);
  if (!credentials) return fail(credentials.error().message);
  plan->credentials = *credentials;

  // The child's ends live only until the spawn: afterwards the agent holds none of them, so the
  // output pipes (or the pty) reach end of file exactly when the container's processes are gone.
  UniqueFd child_in, child_out, child_err;
  s->tty_ = request.tty;
  if (console) {
    // crun makes the terminal and sends its master once it has the container; its own stdio
    // is not the process's: nothing in, its messages out on the stderr stream.
    auto err = MakePipe();
    child_in.Reset(open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!err || !child_in.valid()) return fail("cannot create crun's stdio");
    s->stderr_source_ = std::move(err->read);
    child_err = std::move(err->write);
    plan->stdio[0] = plan->stdio[1] = child_in.get();
    plan->stdio[2] = child_err.get();
  } else if (request.tty) {
    auto pty = MakePty(s->root_ ? s->root_->root() + "/dev/pts/ptmx" : "/dev/ptmx", request.rows,
                       request.cols);
    if (!pty) return fail(pty.error().message);
    s->stdout_source_ = std::move(pty->read);
    s->stdin_sink_.Reset(dup(s->stdout_source_.get()));
    fcntl(s->stdin_sink_.get(), F_SETFD, FD_CLOEXEC);
    child_in = std::move(pty->write);
    plan->stdio[0] = plan->stdio[1] = plan->stdio[2] = child_in.get();
  } else {
    auto in = MakePipe(), out = MakePipe(), err = MakePipe();
    if (!in || !out || !err) return fail("cannot create stdio pipes");
    s->stdin_sink_ = std::move(in->write);
    child_in = std::move(in->read);
    s->stdout_source_ = std::move(out->read);
    child_out = std::move(out->write);
    s->stderr_source_ = std::move(err->read);
    child_err = std::move(err->write);
    plan->stdio[0] = child_in.get();
    plan->stdio[1] = child_out.get();
    plan->stdio[2] = child_err.get();
  }
  plan->tty = request.tty && !console;

  SpawnOutcome outcome = Spawn(ctx.reaper, *plan, [s](int status) { s->OnExit(status); });
  child_in.Reset();
  child_out.Reset();
  child_err.Reset();
  s->pid_ = outcome.pid;
  if (outcome.failure) {
    // Nothing ran, so there is no output to drain: end the streams and report at once (the
    // child that failed, if any, is reaped like any other).
    for (auto& sock : s->sockets_) sock.Reset();
    control->Send(*outcome.failure);
    return nullptr;
  }
  if (console) {
    auto exited = [s] {
      std::lock_guard lock(s->mu_);
      return s->wait_status_.has_value();
    };
    auto master = console->Receive(std::chrono::seconds(30), exited);
    if (master) {
      if (request.rows && request.cols) {
        winsize ws{request.rows, request.cols, 0, 0};
        ioctl(master->get(), TIOCSWINSZ, &ws);
      }
      s->stdout_source_ = std::move(*master);
      s->stdin_sink_.Reset(fcntl(s->stdout_source_.get(), F_DUPFD_CLOEXEC, 0));
    } else if (!exited()) {
      // crun runs but its terminal never came: end it (the console says why).
      std::fprintf(stderr, "uvm-agent: %s\n", master.error().message.c_str());
      ctx.reaper.Kill(outcome.pid, SIGKILL);
    }
    // Without a terminal (crun failed first) the session still runs: its stderr and status
    // tell the host what happened.
  }
  // Writes to the process's stdin wait in poll() so that cancellation can interrupt them.
  if (s->stdin_sink_.valid()) {
    fcntl(s->stdin_sink_.get(), F_SETFL, fcntl(s->stdin_sink_.get(), F_GETFL) | O_NONBLOCK);
  }
  control->Send(Started{outcome.pid});
  std::thread([s] { s->Run(); }).detach();
  return s;
}

void ExecSession::OnExit(int wait_status) {
  std::lock_guard lock(mu_);
  wait_status_ = wait_status;
  exited_cv_.notify_all();
}

void ExecSession::Signal(int sig) {
  if (pid_ <= 0) return;
  // crun run passes signals on to the container's process, but SIGKILL would end crun alone and
  // leave the container running: it goes to the container's init (its PID namespace ends with
  // it), and crun then exits with its status, as `crun kill` would do it.
  if (sig == SIGKILL && bundle_ && !bundle_->is_exec()) {
    if (auto init = CrunInitPid(kCrunStateRoot, bundle_->name())) {
      ::kill(*init, SIGKILL);
      return;
    }
  }
  ctx_.reaper.Kill(pid_, sig);
}

Result<void> ExecSession::Resize(uint16_t rows, uint16_t cols) {
  if (!tty_) return Err("resize: the process has no terminal");
  winsize ws{rows, cols, 0, 0};
  if (ioctl(stdout_source_.get(), TIOCSWINSZ, &ws) < 0) return ErrnoErr("resize");
  return {};
}

void ExecSession::Run() {
  auto cancel = EventFd::Create();
  std::thread out([this] { RelayOutput(stdout_source_.get(), sockets_[1].get()); });
  std::thread err([this] { RelayOutput(stderr_source_.get(), sockets_[2].get()); });
  std::thread in([this, &cancel] {
    RelayInput(sockets_[0].get(), stdin_sink_.get(), cancel ? cancel->fd() : -1, tty_);
    if (!tty_) stdin_sink_.Reset();  // end of file for the process
  });

  int status;
  {
    std::unique_lock lock(mu_);
    exited_cv_.wait(lock, [this] { return wait_status_.has_value(); });
    status = *wait_status_;
  }
  out.join();
  err.join();
  if (cancel) cancel->Signal();
  in.join();
  for (auto& s : sockets_) s.Reset();
  stdin_sink_.Reset();
  stdout_source_.Reset();
  stderr_source_.Reset();
  root_.reset();
  control_->Send(FromWaitStatus(status));
}

}  // namespace uvm::agent
