// A container's utility VM with its guest agent answering, however it came to be: lent by the VM
// pool serving the state root, a copy-on-write clone of the template of its shape (made on first
// use), or a cold boot. Whoever runs a container asks for one and does not care which: `uvm run`
// now, an OCI runtime's per-container process next.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/phase_timer.h"
#include "base/result.h"
#include "guest-agent/protocol/messages.h"
#include "runtime/agent/agent_client.h"
#include "runtime/agent_vm.h"
#include "runtime/pool/client.h"
#include "runtime/tap_network.h"
#include "runtime/template_shape.h"

namespace uvm::runtime {

struct SandboxSpec {
  std::string root;      // the state root: its templates, and the pool that serves it
  TemplateShape shape;   // kernel, agent, memory, vCPUs, the image's disk, a net device or not
  bool cold = false;     // boot the VM; no template, no pool
  bool use_pool = true;  // take a VM the pool has ready (never with shape.net: that VM needs its
                         // own tap from the start)
  // The host directories of the VM's shape.shares virtio-fs devices, in order (tags ShareTag(i)).
  std::vector<devices::virtio::fs::ShareConfig> shares;
};

class Sandbox {
 public:
  // The pool's VM when it has one ready; else a clone of the template, made first if needed (one
  // that cannot be made or does not start is reported as a warning and the VM booted instead);
  // else a boot. With shape.net the VM gets a tap of its own, configured once the agent answers.
  // Signals SIGINT/SIGTERM/SIGHUP are the caller's to block; one pending while the VM starts
  // ends the wait with an error of code kInterrupted (PendingStopSignal() says which).
  static Result<std::unique_ptr<Sandbox>> Create(const SandboxSpec& spec, const PhaseTimer& timer);
  ~Sandbox();

  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  agent::AgentClient& agent() { return *agent_; }
  // Where the VM's agent answers (its vsock device's Unix socket): another process may connect
  // there too, as `uvm-runtime exec` does.
  std::string agent_vsock_uds() const;
  // With shape.net: the VM's eth0 as the agent is to configure it (address, gateway, the MAC of
  // this VM's own device: a clone's driver still has its template's).
  std::optional<agent::Network> network() const;

  // Ends the VM after a failure: an error saying `what` and how the VM ended.
  Error Fail(const std::string& what);
  // Ends the VM: the container is done.
  void Stop();

 private:
  Sandbox() = default;
  static Result<std::unique_ptr<Sandbox>> FromPool(const SandboxSpec& spec, const std::string& key,
                                                   const PhaseTimer& timer);

  std::string pool_log_;             // a pooled VM: the pool's log, where its console goes
  std::optional<PoolLease> lease_;   // a pooled VM: the pool stops it when the lease ends
  std::unique_ptr<AgentVm> own_vm_;  // otherwise: the VM, in this process
  std::optional<TapNetwork> tap_;
  // The agent client: the pooled VM's, or the one own_vm_ proved (owned there).
  std::optional<agent::AgentClient> pooled_agent_;
  agent::AgentClient* agent_ = nullptr;
};

}  // namespace uvm::runtime
