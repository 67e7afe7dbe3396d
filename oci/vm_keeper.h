// The host processes that stand for a VM-isolated container's processes: the container's keeper
// (its pid, forked by `create`: it owns the VM, waits for `start`, relays the process's stdio and
// signals, exits with its status) and an exec's (forked by `exec`: it reaches the VM's agent over
// the VM's vsock socket and runs `crun exec`). Each tells its parent on `ready` "ok", or why not.
#pragma once

#include <string>

#include "base/unique_fd.h"
#include "oci/runtime_args.h"
#include "oci/vm_bundle.h"

namespace uvm::oci {

struct KeeperPlan {
  std::string state_dir;
  VmBundle bundle;
  int terminal = -1;  // with a terminal: the slave of the pty whose master the engine has
};

// The keeper's life; the result is its exit status (the container's).
int RunKeeper(const RuntimeArgs& args, const KeeperPlan& plan, UniqueFd ready);

// An exec's process: runs `process` (runtime-spec JSON) in the container through the agent at
// `agent_uds`, with `terminal` (or -1) as above; the result is the process's status.
int RunExec(const RuntimeArgs& args, const std::string& agent_uds, const std::string& process,
            int terminal, UniqueFd ready);

}  // namespace uvm::oci
