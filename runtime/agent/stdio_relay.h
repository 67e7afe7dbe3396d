// Moves a container's standard streams between uvm's own fds and the agent's vsock streams, and
// turns host signals into requests for the container (uvm run). The one copy loop for a remote
// process's stdio: agent_client's RelayStdio(RemoteProcess&, ...) is this with no signal hooks.
// Output is never dropped: a stream is read only when the previous chunk has been written out in
// full.
#pragma once

#include <functional>

#include "base/result.h"

namespace uvm::agent {

struct RelayFds {
  int host_in = -1;  // uvm's stdin; -1: the container gets EOF at once
  int host_out = 1;
  int host_err = 2;
  int container_in = -1;   // stream to the process's stdin (shut down for writing at EOF)
  int container_out = -1;  // the process's stdout (or its terminal, with -t)
  int container_err = -1;  // the process's stderr; -1 with -t
};

struct RelayHooks {
  // A host signal for the container (SIGINT, SIGTERM, SIGHUP, ...).
  std::function<void(int signo)> on_signal;
  // The host terminal changed size (SIGWINCH), for -t.
  std::function<void()> on_resize;
  // An extra fd to watch (the agent's control stream); on readable, `on_extra` runs and returns
  // false to end the relay early (e.g. the agent went away).
  int extra_fd = -1;
  std::function<bool()> on_extra;
};

// Relays until the container's stdout and stderr streams have both reached EOF. The caller must
// have blocked SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH in every thread
// (they arrive here through a signalfd).
Result<void> RelayStdio(const RelayFds& fds, const RelayHooks& hooks);

// The signals RelayStdio forwards, blocked for the whole process by the caller.
void BlockRelayedSignals();

}  // namespace uvm::agent
