// A container's process in a sandbox, from start to exit status: its identity (hostname, the
// host's clock, fresh entropy for the guest's random numbers), the exec, its stdio relayed through
// fds the caller chooses, host signals and terminal size passed on, and the exit status once
// stdout and stderr are drained (nothing is lost).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "base/phase_timer.h"
#include "base/result.h"
#include "guest-agent/protocol/messages.h"
#include "runtime/sandbox.h"

namespace uvm::runtime {

struct ContainerIo {
  int in = -1;  // host fd whose bytes are the process's stdin; -1: end of file at once
  int out = 1;  // where its stdout (or its terminal, with tty) goes
  int err = 2;  // where its stderr goes
};

struct ContainerHooks {
  // A host signal the relay took for the container (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
  // SIGUSR2); returns the signal to send it (`uvm run` makes a second termination a SIGKILL).
  // Unset: sent as it is.
  std::function<int(int signo)> signal_to_send;
  // With a terminal: the host terminal's size (rows, cols), asked after each SIGWINCH.
  std::function<std::pair<uint16_t, uint16_t>()> terminal_size;
  // Once the process runs (its pid in the VM), before its stdio is relayed.
  std::function<void(int64_t pid)> started;
};

struct ContainerExit {
  int code = 0;  // as a shell reports it: 128+N after signal N, 127 not found, 126 cannot execute
  std::string problem;  // one line when the process could not start or its end was not normal
};

// Runs `exec` through `agent` and relays its stdio until both output streams end, then waits
// for its exit status. The request goes as it is, stamped with the host's clock and fresh
// entropy. Errors say what failed; the VM is the caller's to end.
Result<ContainerExit> RunInVm(agent::AgentClient& agent, agent::ExecRequest exec,
                              const ContainerIo& io, const ContainerHooks& hooks,
                              const PhaseTimer& timer);

// Runs `exec` in `sandbox` (which must have its agent answering) as the container's process:
// with a hostname of its own and the sandbox's network, through RunInVm. The caller has blocked the
// signals the relay forwards (agent::BlockRelayedSignals) in every thread. A failure of the sandbox
// itself stops its VM and says how the VM ended.
Result<ContainerExit> RunContainer(Sandbox& sandbox, agent::ExecRequest exec, const ContainerIo& io,
                                   const ContainerHooks& hooks, const PhaseTimer& timer);

}  // namespace uvm::runtime
