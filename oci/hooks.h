// The OCI hooks of a VM-isolated container (runtime-spec config.md, "POSIX-platform Hooks"), run
// on the host as runc runs them: the program at `path` with `args` (argv[0] included), `env`
// (the runtime's own environment when absent), the container's state JSON on stdin, killed after
// `timeout` seconds when one is given. prestart and createRuntime run in `create` once the
// container's VM exists (the state's pid is its keeper, its status "creating") and a failure
// undoes the create; poststart runs in `start` (status "created", as runc 1.1 gives it) and a
// failure kills the container, as runc's does (the spec asks only for a warning); poststop runs
// in `delete` after the state is gone and a failure is the command's, as runc's. createContainer
// and startContainer run in the container's namespaces, which are inside the VM where the host's
// programs are not: they are refused by name. The hooks come from the engine's config.json: typed
// checks, at most kMaxHooks of them.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace uvm::oci {

inline constexpr size_t kMaxHooks = 64;

struct Hook {
  std::string path;
  std::vector<std::string> args;                // empty: argv is {path}
  std::optional<std::vector<std::string>> env;  // absent: the runtime's environment
  int timeout_seconds = 0;                      // 0: none (runc waits as long as it takes)
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, poststart, poststop;
  bool empty() const {
    return prestart.empty() && create_runtime.empty() && poststart.empty() && poststop.empty();
  }
};

// config.json's `hooks` member (null: none).
Result<Hooks> ParseHooks(const nlohmann::json& hooks);
// The same object back (ParseHooks(HooksJson(h)) == h), kept in the container's state between
// its commands.
nlohmann::json HooksJson(const Hooks& hooks);

// Runs `hook` with `state` on stdin and waits for it. An error says how it failed: its exit
// status or signal, or the timeout, with the end of what it printed.
Result<void> RunHook(const Hook& hook, const std::string& state);
// Runs `hooks` in order, stopping at the first failure ("prestart hook 1 (/usr/bin/x): ...").
Result<void> RunHooks(const std::vector<Hook>& hooks, const char* stage, const std::string& state);

}  // namespace uvm::oci
