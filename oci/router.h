// Where each uvm-runtime command goes. A process-isolated container is runc's: its create, and
// every later command naming it, run the host's runc with uvm-runtime's root for runc
// (ROOT/process), so its state, pids and exit codes are runc's own. A command naming a container
// not there is refused as runc refuses it ("does not exist"; engines match those words). VM
// A VM-isolated container (the default) is uvm's own (vm_runtime.h): its state is in ROOT/vm.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "oci/runtime_args.h"

namespace uvm::oci {

struct Plan {
  enum class Kind { kPrint, kRunProcessRuntime, kVm } kind = Kind::kPrint;
  std::string text;               // kPrint: what goes to stdout
  std::vector<std::string> argv;  // kRunProcessRuntime: the process runtime and its arguments
};

// `version` is uvm's. `runc` is the process runtime's path (already resolved).
Result<Plan> PlanCommand(const RuntimeArgs& args, const std::string& runc,
                         const std::string& version);

// runc's state directory under uvm-runtime's root.
std::string ProcessRoot(const RuntimeArgs& args);
// The VM-isolated containers' state under uvm-runtime's root: one directory per container.
std::string VmRoot(const RuntimeArgs& args);

// runc's rule for container IDs: letters, digits, `_+-.`, and not "." or "..".
bool ValidContainerId(const std::string& id);

}  // namespace uvm::oci
