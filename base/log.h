// Minimal logging to stderr. Verbosity is chosen once in main() and passed down by value where
// needed; the level here is process-wide state only because stderr is.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

namespace uvm {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, const std::string& message);

// Lets through at most `burst` messages per `period`; for events a guest can trigger at will
// (unclaimed I/O), so a hostile guest cannot flood the host's log.
class RateLimiter {
 public:
  RateLimiter(int burst, std::chrono::milliseconds period) : burst_(burst), period_(period) {}
  bool Allow();

 private:
  int burst_;
  std::chrono::milliseconds period_;
  std::atomic<int64_t> window_start_ms_{0};
  std::atomic<int> count_{0};
};

}  // namespace uvm
