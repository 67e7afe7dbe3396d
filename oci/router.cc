#include "oci/router.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>

#include "base/quoted.h"
#include "oci/bundle_isolation.h"

namespace uvm::oci {
namespace {

Plan RunProcessRuntime(const RuntimeArgs& args, const std::string& runc) {
  Plan plan;
  plan.kind = Plan::Kind::kRunProcessRuntime;
  plan.argv = {runc, "--root", ProcessRoot(args)};
  plan.argv.insert(plan.argv.end(), args.runc_globals.begin(), args.runc_globals.end());
  plan.argv.push_back(args.command);
  plan.argv.insert(plan.argv.end(), args.command_args.begin(), args.command_args.end());
  return plan;
}

}  // namespace

std::string ProcessRoot(const RuntimeArgs& args) { return args.root + "/process"; }
std::string VmRoot(const RuntimeArgs& args) { return args.root + "/vm"; }

bool ValidContainerId(const std::string& id) {
  if (id.empty() || id == "." || id == ".." || id.size() > 1024) return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '+' || c == '-' || c == '.';
  });
}

Result<Plan> PlanCommand(const RuntimeArgs& args, const std::string& runc,
                         const std::string& version) {
  if (args.version) {
    // runc's first and `spec:` lines, which engines show in `podman info` and the like.
    return Plan{Plan::Kind::kPrint, "uvm-runtime version " + version + "\nspec: 1.0.2-dev\n", {}};
  }
  const std::string& command = args.command;
  if (OneOf(command, {"create", "run"})) {
    const std::string bundle = BundleDir(args.command_args);
    UVM_TRY(Isolation isolation, IsolationOfBundle(bundle, args.isolation));
    const std::string id = ContainerId(command, args.command_args);
    if (!ValidContainerId(id)) return Err("invalid container ID " + Quoted(id));
    if (isolation == Isolation::kProcess) return RunProcessRuntime(args, runc);
    return Plan{Plan::Kind::kVm, "", {}};
  }
  // Commands about no container in particular: runc's answer is the answer while every container
  // is runc's (`spec` writes runc's default config.json, which any OCI runtime takes).
  if (OneOf(command, {"list", "spec", "features"})) return RunProcessRuntime(args, runc);
  if (OneOf(command, {"start", "state", "kill", "delete", "exec", "ps", "pause", "resume", "events",
                      "update"})) {
    const std::string id = ContainerId(command, args.command_args);
    if (id.empty()) return Err(command + ": a container ID is required");
    if (!ValidContainerId(id)) return Err("invalid container ID " + Quoted(id));
    struct stat st;
    if (::stat((ProcessRoot(args) + "/" + id).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return RunProcessRuntime(args, runc);
    }
    if (::stat((VmRoot(args) + "/" + id).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return Plan{Plan::Kind::kVm, "", {}};
    }
    return Err("container " + id + " does not exist");
  }
  if (OneOf(command, {"checkpoint", "restore"})) {
    return Err(command + " is not supported by uvm-runtime");
  }
  return Err("unknown command " + Quoted(command));
}

}  // namespace uvm::oci
