// Reaping for PID 1 (ARCHITECTURE.md "The agent"): every child that exits is waited for, whether
// the agent started it (its exit status goes to the registered callback) or it is an orphan
// re-parented to the agent (its status is dropped). Outside a VM the agent makes itself a child
// subreaper so the same holds in tests.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <mutex>

namespace uvm::agent {

class Reaper {
 public:
  using OnExit = std::function<void(int wait_status)>;

  // Blocks SIGCHLD in the calling thread. Call it in main() before any thread starts: every
  // thread inherits the mask, so only the reaper thread takes SIGCHLD (sigtimedwait).
  static void BlockSigchld();

  // Starts the reaping thread (detached; it runs for the life of the process).
  void Start();

  // Runs `spawn` and registers the pid it returns (if > 0) before any reaping can see that pid,
  // so an immediately exiting child is never lost.
  pid_t Spawn(const std::function<pid_t()>& spawn, OnExit on_exit);

  // kill(pid, sig), only while `pid` is a registered child not reaped yet (no pid-reuse race).
  bool Kill(pid_t pid, int sig);

 private:
  void Run();

  std::mutex mu_;
  std::map<pid_t, OnExit> watched_;
};

}  // namespace uvm::agent
