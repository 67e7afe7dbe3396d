#include "guest-agent/reaper.h"

#include <signal.h>
#include <sys/wait.h>

#include <thread>
#include <vector>

namespace uvm::agent {

void Reaper::BlockSigchld() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void Reaper::Start() {
  std::thread([this] { Run(); }).detach();
}

pid_t Reaper::Spawn(const std::function<pid_t()>& spawn, OnExit on_exit) {
  std::lock_guard lock(mu_);
  pid_t pid = spawn();
  if (pid > 0) watched_[pid] = std::move(on_exit);
  return pid;
}

bool Reaper::Kill(pid_t pid, int sig) {
  std::lock_guard lock(mu_);
  if (!watched_.count(pid)) return false;
  return kill(pid, sig) == 0;
}

void Reaper::Run() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  for (;;) {
    // The timeout is a safety net: SIGCHLDs coalesce, and each round reaps everything pending.
    timespec one_second{1, 0};
    sigtimedwait(&set, nullptr, &one_second);
    std::vector<std::pair<OnExit, int>> done;
    {
      std::lock_guard lock(mu_);
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        auto it = watched_.find(pid);
        if (it == watched_.end()) continue;  // an orphan: reaped, nobody to tell
        done.emplace_back(std::move(it->second), status);
        watched_.erase(it);
      }
    }
    for (auto& [callback, status] : done) callback(status);
  }
}

}  // namespace uvm::agent
