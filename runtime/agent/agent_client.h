// The host's side of the agent protocol (ARCHITECTURE.md "The agent",
// guest-agent/protocol/messages.h).
//
//   auto client = AgentClient::Connect(AgentAddress::Vsock("/run/uvm/x.sock"), 10s);
//   auto proc = client->Exec(request);          // the process runs (or proc->exit() says why not)
//   RelayStdio(*proc, 0, 1, 2);                 // or use the three fds directly
//   Result<Exit> exit = proc->WaitExit();       // ShellExitCode(*exit) for `uvm run`
//
// The agent sends Exit only after the host has read stdout and stderr to end of file and closed
// them: whoever reads the streams must close each one at its end (RelayStdio does).
#pragma once

#include <chrono>
#include <optional>

#include "base/result.h"
#include "base/unique_fd.h"
#include "guest-agent/protocol/messages.h"
#include "runtime/agent/dial.h"

namespace uvm::agent {

class RemoteProcess {
 public:
  // Sockets to the process's stdio; -1 once closed.
  int stdin_fd() const { return stdio_[0].get(); }
  int stdout_fd() const { return stdio_[1].get(); }
  int stderr_fd() const { return stdio_[2].get(); }
  // Half-closes stdin: the process reads end of file (a terminal gets ^D).
  Result<void> CloseStdin();
  void CloseStdout() { stdio_[1].Reset(); }
  void CloseStderr() { stdio_[2].Reset(); }

  // The guest pid; 0 when the process never started (then WaitExit returns the reason at once).
  int64_t pid() const { return pid_; }

  Result<void> Signal(int sig);
  Result<void> Resize(uint16_t rows, uint16_t cols);

  // Waits for the Exit report; nullopt timeout waits forever. Exec failures are an Exit with
  // `error` set (see ShellExitCode), not an error of this call.
  Result<Exit> WaitExit(std::optional<std::chrono::milliseconds> timeout = std::nullopt);

 private:
  friend class AgentClient;
  UniqueFd control_;
  UniqueFd stdio_[3];
  int64_t pid_ = 0;
  std::optional<Exit> exit_;
};

class AgentClient {
 public:
  // Retries until the agent answers the Hello (the VM may still be booting) or `timeout` passes.
  // A protocol version mismatch fails at once.
  static Result<AgentClient> Connect(const AgentAddress& address,
                                     std::chrono::milliseconds timeout);

  // Starts a process: Exec, then the three stdio connections. Returns once the agent reports
  // Started or an exec failure (then the RemoteProcess holds that Exit and no streams).
  Result<RemoteProcess> Exec(const ExecRequest& request,
                             std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // Has the agent mount `rootfs` for later execs and read up to `warm_bytes` of it (a template's
  // image, guest-agent/image_cache.h). Takes a control connection like Exec does.
  Result<ImagePrepared> PrepareImage(const Rootfs& rootfs, uint64_t warm_bytes,
                                     std::chrono::milliseconds timeout);

 private:
  explicit AgentClient(AgentAddress address) : address_(std::move(address)) {}
  Result<UniqueFd> OpenControl(Deadline deadline);
  // The connection Connect() proved if it is still unused, else a new one.
  Result<UniqueFd> TakeControl(Deadline deadline);

  AgentAddress address_;
  UniqueFd spare_control_;  // the connection Connect() proved, used by the first request
};

// Copies `in` to the process's stdin (closing it at `in`'s end of file; -1: close at once) and
// its stdout and stderr to `out` and `err` until both end, closing each at its end. Returns when
// stdout and stderr are done; then WaitExit() has its answer.
Result<void> RelayStdio(RemoteProcess& process, int in, int out, int err);

}  // namespace uvm::agent
