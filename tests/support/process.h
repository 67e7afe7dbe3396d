// Runs a program to completion for tests: feeds stdin, captures stdout and stderr, enforces a
// timeout (the child is killed and the result says so).
#pragma once

#include <string>
#include <vector>

namespace uvm::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 if killed by a signal
  int signal = 0;
  bool timed_out = false;
  std::string out, err;
};

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& stdin_data = "",
                         int timeout_seconds = 120);

}  // namespace uvm::testing
