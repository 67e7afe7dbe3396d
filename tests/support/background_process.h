// A child process a test talks to while it runs (a VMM serving sockets): stdout and stderr are
// collected by a reader thread, the test waits for a marker on stdout, and the child is waited for
// (or killed) at the end. The destructor kills a child still running.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.h"

namespace uvm::testing {

class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  bool started() const { return pid_ > 0; }
  // True once `marker` is on stdout; false after `timeout_seconds` or when stdout closed first.
  bool WaitForOutput(const std::string& marker, int timeout_seconds);
  // Waits for the child to end (SIGKILL after `timeout_seconds`, reported as timed_out).
  ProcessResult Wait(int timeout_seconds);
  std::string out() const;

 private:
  void ReadOutput(int out_fd, int err_fd);

  pid_t pid_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::string out_, err_;
  bool closed_ = false;
  bool waited_ = false;
};

}  // namespace uvm::testing
