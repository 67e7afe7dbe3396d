#include "tests/support/background_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

namespace uvm::testing {

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return;
  pid_ = fork();
  if (pid_ == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  if (pid_ < 0) {
    close(out[0]);
    close(err[0]);
    return;
  }
  reader_ = std::thread([this, o = out[0], e = err[0]] { ReadOutput(o, e); });
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0 && !waited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (reader_.joinable()) reader_.join();
}

void BackgroundProcess::ReadOutput(int out_fd, int err_fd) {
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    pollfd fds[2] = {{out_open ? out_fd : -1, POLLIN, 0}, {err_open ? err_fd : -1, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    char buf[4096];
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      std::lock_guard lock(mu_);
      if (n > 0) {
        (i == 0 ? out_ : err_).append(buf, static_cast<size_t>(n));
      } else {
        (i == 0 ? out_open : err_open) = false;
      }
      changed_.notify_all();
    }
  }
  close(out_fd);
  close(err_fd);
  std::lock_guard lock(mu_);
  closed_ = true;
  changed_.notify_all();
}

bool BackgroundProcess::WaitForOutput(const std::string& marker, int timeout_seconds) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, std::chrono::seconds(timeout_seconds), [&] {
    return out_.find(marker) != std::string::npos || closed_;
  }) && out_.find(marker) != std::string::npos;
}

ProcessResult BackgroundProcess::Wait(int timeout_seconds) {
  ProcessResult result;
  if (pid_ <= 0) return result;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    usleep(10000);
  }
  waited_ = true;
  if (reader_.joinable()) reader_.join();
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  std::lock_guard lock(mu_);
  result.out = out_;
  result.err = err_;
  return result;
}

std::string BackgroundProcess::out() const {
  std::lock_guard lock(mu_);
  return out_ + err_;
}

}  // namespace uvm::testing
