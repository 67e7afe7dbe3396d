// The commands a VM-isolated container answers by running crun in its VM, over the agent's socket
// the keeper recorded: `ps` (the container's processes as the VM numbers them), `pause`/`resume`
// (its cgroup2 freezer, runc's semantics, and the VM's vCPUs), `update` (its cgroup's limits) and
// `kill` with a signal the keeper does not relay.
#pragma once

#include <string>

#include "oci/runtime_args.h"

namespace uvm::oci {

int Ps(const RuntimeArgs& args, const CommandLine& cl, const std::string& id);
int PauseOrResume(const RuntimeArgs& args, const std::string& id, bool pause);
int Update(const RuntimeArgs& args, const CommandLine& cl, const std::string& id);
int CrunKill(const RuntimeArgs& args, const std::string& id, int signo, bool all);

}  // namespace uvm::oci
