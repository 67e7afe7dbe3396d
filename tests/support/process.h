// Runs a program to completion for tests: feeds stdin, captures stdout and stderr, enforces a
// timeout (the child is killed and the result says so).
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace uvm::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 if killed by a signal
  int signal = 0;
  bool timed_out = false;
  bool killed_at_marker = false;  // `kill_at` appeared on stdout and the child got SIGKILL
  std::string out, err;
};

// A process's output as lines, without their "\n".
inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// With `kill_at` set, the child is sent SIGKILL as soon as that text appears on its stdout.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& stdin_data = "",
                         int timeout_seconds = 120, const std::string& kill_at = "");

}  // namespace uvm::testing
