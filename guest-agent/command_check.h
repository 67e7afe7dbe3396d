// Whether a container's command can start, looked up in its root before an OCI runtime tries:
// runc and crun report a missing or non-executable command only as their own failure, while
// docker (and uvm) answer 127 when it is not found (in the container's PATH, for a bare name) and
// 126 when it is not an executable file. Used by the agent before `crun run` and by `uvm run
// --isolation process` before runc.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "guest-agent/spawn.h"

namespace uvm::agent {

struct CommandProblem {
  int status = 0;  // 127 or 126
  int error = 0;   // ENOENT or EACCES
  std::string message;
};

// `plan`'s command (its candidates, relative ones from its cwd) looked up inside `root` as in a
// chroot (RESOLVE_IN_ROOT: symlinks stay inside). Nothing when it can start, or when only the
// runtime can tell: the root cannot be opened, or a candidate lies below one of `opaque` (a
// volume the runtime mounts later).
std::optional<CommandProblem> CheckCommand(const std::string& root, const SpawnPlan& plan,
                                           const std::vector<std::string>& opaque = {});

}  // namespace uvm::agent
