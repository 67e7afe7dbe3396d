#include "runtime/container.h"

#include "base/log.h"
#include "base/random_id.h"
#include "runtime/agent/exec_identity.h"
#include "runtime/agent/stdio_relay.h"

namespace uvm::runtime {

Result<ContainerExit> RunContainer(Sandbox& sandbox, agent::ExecRequest exec, const ContainerIo& io,
                                   const ContainerHooks& hooks, const PhaseTimer& timer) {
  if (exec.hostname.empty()) exec.hostname = RandomHexId(12);
  if (auto network = sandbox.network()) exec.network = *network;
  auto exit = RunInVm(sandbox.agent(), std::move(exec), io, hooks, timer);
  if (!exit) return tl::unexpected(sandbox.Fail(exit.error().message));
  return exit;
}

Result<ContainerExit> RunInVm(agent::AgentClient& agent, agent::ExecRequest exec,
                              const ContainerIo& io, const ContainerHooks& hooks,
                              const PhaseTimer& timer) {
  // Stamped last, so the clock is as fresh as it can be when the agent sets it.
  UVM_CHECK(agent::StampIdentity(exec));
  auto started = agent.Exec(exec);
  if (!started) return Err("exec: " + started.error().message);
  agent::RemoteProcess& proc = *started;
  timer.Mark("process started");
  if (proc.pid() == 0) {
    auto exit = proc.WaitExit(std::chrono::seconds(10));
    if (!exit) return Err("exec: " + exit.error().message);
    return ContainerExit{agent::ShellExitCode(*exit), agent::Describe(*exit)};
  }

  if (hooks.started) hooks.started(proc.pid());

  agent::RelayFds fds;
  fds.host_in = io.in;
  fds.host_out = io.out;
  fds.host_err = io.err;
  fds.container_in = proc.stdin_fd();
  fds.container_out = proc.stdout_fd();
  fds.container_err = proc.stderr_fd();
  agent::RelayHooks relay;
  relay.on_signal = [&](int signo) {
    if (hooks.signal_to_send) signo = hooks.signal_to_send(signo);
    if (auto r = proc.Signal(signo); !r) Log(LogLevel::kWarn, "signal: " + r.error().message);
  };
  relay.on_resize = [&] {
    if (!exec.tty || !hooks.terminal_size) return;
    auto [rows, cols] = hooks.terminal_size();
    (void)proc.Resize(rows, cols);
  };
  UVM_CHECK(agent::RelayStdio(fds, relay));
  // Closing the streams is our word to the agent that everything was read.
  proc.CloseStdout();
  proc.CloseStderr();
  timer.Mark("output done");

  auto exit = proc.WaitExit(std::chrono::seconds(30));
  if (!exit) return Err("waiting for the exit status: " + exit.error().message);
  ContainerExit out{agent::ShellExitCode(*exit), ""};
  if (exit->error != agent::ExecError::kNone) out.problem = agent::Describe(*exit);
  return out;
}

}  // namespace uvm::runtime
