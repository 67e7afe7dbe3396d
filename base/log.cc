#include "base/log.h"

#include <unistd.h>

namespace uvm {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kWarn)};
const char* Prefix(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "uvm: error: ";
    case LogLevel::kWarn:
      return "uvm: warning: ";
    case LogLevel::kInfo:
      return "uvm: ";
    case LogLevel::kDebug:
      return "uvm: debug: ";
  }
  return "uvm: ";
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
bool LogEnabled(LogLevel level) { return static_cast<int>(level) <= g_level.load(); }

void Log(LogLevel level, const std::string& message) {
  if (!LogEnabled(level)) return;
  // One write per line so lines from several threads do not interleave.
  std::string line = Prefix(level) + message + "\n";
  ssize_t unused = ::write(STDERR_FILENO, line.data(), line.size());
  (void)unused;
}

bool RateLimiter::Allow() {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  int64_t start = window_start_ms_.load();
  if (now - start >= period_.count() && window_start_ms_.compare_exchange_strong(start, now)) {
    count_ = 0;
  }
  return count_.fetch_add(1) < burst_;
}

}  // namespace uvm
