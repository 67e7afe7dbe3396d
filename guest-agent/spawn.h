// Starting the container's process: everything that can allocate or fail with a message is done
// in the agent before clone(); the child only makes system calls (the agent is multi-threaded,
// so after clone() nothing but async-signal-safe calls is allowed) and reports a failure as
// {stage, errno} through a close-on-exec pipe, which reads as empty when execve succeeded.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "guest-agent/protocol/messages.h"
#include "guest-agent/reaper.h"
#include "guest-agent/user_spec.h"

namespace uvm::agent {

struct SpawnPlan {
  std::vector<std::string> argv, env;
  std::vector<std::string> candidates;  // paths to try in order ($PATH search done here)
  std::string cwd, hostname;
  std::string root;  // non-empty: new mount/pid/uts/ipc namespaces, pivot_root into it
  Credentials credentials;
  int stdio[3] = {-1, -1, -1};  // become the child's 0, 1, 2
  bool tty = false;             // stdio[0] is a terminal to become the controlling one
};

inline constexpr char kDefaultPath[] =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Fills argv, env (PATH added if missing), candidates, cwd and hostname from the request.
Result<SpawnPlan> PlanSpawn(const ExecRequest& request);

struct SpawnOutcome {
  pid_t pid = -1;               // > 0 when a child was created (it is registered with the reaper)
  std::optional<Exit> failure;  // set when the process did not start; the child (if any) exits
};

SpawnOutcome Spawn(Reaper& reaper, const SpawnPlan& plan, Reaper::OnExit on_exit);

}  // namespace uvm::agent
