// uvm-runtime's VM-isolated containers: runc's commands for a container whose process runs in a
// cloned utility VM, under crun inside it (oci_bundle.h in the agent).
//
// `create` forks the container's keeper and returns once the keeper has the VM (a pooled or
// cloned one: no boot) with the bundle's root and bind-mount directories shared into it; the
// keeper's pid is the container's pid, in the pid file. The keeper descends from `create`, so
// conmon and containerd's shim (subreapers) reap it; it owns the VM, relays the stdio `create`
// inherited (pipes, end of file included), forwards the signals `kill` sends it, and exits with
// the container's status (128+N after signal N). `start` tells the keeper (over its socket in the
// state directory) to start the process and returns once it runs. State lives in ROOT/vm/ID.
#pragma once

#include <string>

#include "oci/runtime_args.h"

namespace uvm::oci {

// Runs args.command (create, run, start, state, kill, delete; the others are refused) for a
// VM-isolated container. Errors are reported (ReportError); the result is the exit status.
int RunVmCommand(const RuntimeArgs& args);

}  // namespace uvm::oci
