// A utility VM on a thread of this process, up to the point where its guest agent answers: the one
// way `uvm run`, the VM pool and template creation start a VM. The VM gets a run directory of its
// own (its vsock socket and console log), and a failure stops it and says why it ended, with its
// console's tail in the log.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "base/fs.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "runtime/agent/agent_client.h"
#include "vmm/utility_vm.h"

namespace uvm::runtime {

// The first of SIGINT, SIGTERM, SIGHUP pending for this thread (the caller blocked them), or 0. A
// user who gives up while a VM starts is not kept waiting: AgentVm::Start checks it.
int PendingStopSignal();

// A utility VM's control socket (vmm/control_socket.h: PAUSE, RESUME), beside its vsock socket
// in its run directory: whoever knows where the agent answers (a pool's client) finds it.
std::string ControlSocketOf(const std::string& vsock_uds);

class AgentVm {
 public:
  // Starts `spec` in `dir` (spec.vsock_uds, spec.api_sock and spec.console_fd are set here:
  // vsock.sock, api.sock and console.log in `dir`) and connects to its agent, retrying every 0.5 s.
  // Gives up when the VM ends, after `agent_timeout`, or when a stop signal is pending (then the
  // error's code is ErrorCode::kInterrupted); the VM is stopped and its directory removed. On a
  // failure the console's tail also goes to `console_tail`, if given (the pool logs it).
  static Result<std::unique_ptr<AgentVm>> Start(TempDir dir, vmm::UtilityVmSpec spec,
                                                std::chrono::milliseconds agent_timeout,
                                                std::string* console_tail = nullptr);
  // Stops the VM if it still runs and waits for it; then its directory goes.
  ~AgentVm();

  AgentVm(const AgentVm&) = delete;
  AgentVm& operator=(const AgentVm&) = delete;

  // The client that proved the agent answers; null after CloseAgent().
  agent::AgentClient* agent() { return agent_ ? &*agent_ : nullptr; }
  // Closes the proof-of-life connection (the agent serves each request on a connection of its
  // own): before a template is saved, or while a pooled VM waits for its claim.
  void CloseAgent() { agent_.reset(); }

  vmm::UtilityVm& vm() { return *vm_; }
  const std::string& dir() const { return dir_.path(); }
  std::string vsock_uds() const { return dir() + "/vsock.sock"; }
  std::string console_log() const { return dir() + "/console.log"; }

  // Stops the VM and waits for it. Returns an error that says `what` and how the VM ended; its
  // console's tail goes to the debug log, and to `console_tail` if given.
  Error Fail(const std::string& what, std::string* console_tail = nullptr);
  // Stops the VM and waits for it (the normal end).
  void Stop(const std::string& why);
  // Stops the VM, saved to the spec's save_dir, and says how that went.
  Result<vmm::LinuxVmResult> SaveAndStop();

 private:
  explicit AgentVm(TempDir dir) : dir_(std::move(dir)) {}
  // How the ended VM ended, in words ("the guest kernel panicked", "triple fault", ...).
  std::string EndedBecause();

  // Members go in reverse: the VM first, then the console it writes to, then its directory.
  TempDir dir_;
  UniqueFd console_;
  std::unique_ptr<vmm::UtilityVm> vm_;
  std::optional<agent::AgentClient> agent_;
};

}  // namespace uvm::runtime
