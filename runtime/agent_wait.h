// Waiting for a utility VM's agent to answer: after a boot that is the guest's whole start-up,
// after a clone's restore one round trip. Shared by `uvm run` and template creation.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "runtime/agent/agent_client.h"
#include "vmm/utility_vm.h"

namespace uvm::runtime {

struct AgentWait {
  std::optional<agent::AgentClient> client;  // set when the agent answered
  int signal = 0;       // a pending SIGINT/SIGTERM/SIGHUP ended the wait (the VM is stopped)
  std::string failure;  // otherwise: why there is no client (the VM ended, the time ran out)
};

// Connects to the agent behind `uds` (the VM's vsock socket), retrying every 0.5 s. Gives up at
// once when the VM has ended, after `timeout`, or when one of SIGINT/SIGTERM/SIGHUP is pending
// (the caller blocked them; a user who gives up during a boot is not kept waiting): then the VM
// is stopped and waited for.
AgentWait WaitForAgent(vmm::UtilityVm& vm, const std::string& uds,
                       std::chrono::milliseconds timeout);

}  // namespace uvm::runtime
