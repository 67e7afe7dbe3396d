#include "cli/runtime_main.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/fs.h"
#include "oci/router.h"
#include "oci/runtime_log.h"
#include "oci/vm_runtime.h"

namespace uvm::cli {
namespace {

// runc's status for a failed command.
constexpr int kRuntimeFailure = 1;

}  // namespace

int RuntimeMain(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  Result<oci::RuntimeArgs> args = oci::ParseRuntimeArgs(words);
  if (!args) {
    oci::ReportError(oci::RuntimeArgs{}, args.error().message);
    return kRuntimeFailure;
  }
  if (args->uvm_root.empty()) {
    const char* env = std::getenv("UVM_ROOT");
    args->uvm_root = env && *env ? env : oci::kDefaultUvmRoot;
  }
  std::string runc = args->process_runtime;
  if (runc.empty()) runc = FindInPath("runc").value_or("");
  Result<oci::Plan> plan = oci::PlanCommand(*args, runc, UVM_VERSION);
  if (!plan) {
    oci::ReportError(*args, plan.error().message);
    return kRuntimeFailure;
  }
  if (plan->kind == oci::Plan::Kind::kVm) return oci::RunVmCommand(*args);
  if (plan->kind == oci::Plan::Kind::kPrint) {
    std::fputs(plan->text.c_str(), stdout);
    return 0;
  }
  if (runc.empty()) {
    oci::ReportError(*args,
                     "runc not found on PATH (install runc, or pass --process-runtime PATH)");
    return kRuntimeFailure;
  }
  // The process runtime replaces this process: its pid, stdio, exit status and signals are
  // exactly what the engine gets from runc itself.
  std::vector<char*> exec_argv;
  for (auto& word : plan->argv) exec_argv.push_back(word.data());
  exec_argv.push_back(nullptr);
  ::execv(exec_argv[0], exec_argv.data());
  oci::ReportError(*args, "running " + plan->argv[0] + ": " + std::strerror(errno));
  return kRuntimeFailure;
}

}  // namespace uvm::cli
