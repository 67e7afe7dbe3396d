// Debug-level log of how long each start-up phase took (uvm -v): "<ms since start>  <what>",
// with an optional label saying whose phases they are (the VM thread, the `uvm run` thread).
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "base/log.h"

namespace uvm {

class PhaseTimer {
 public:
  explicit PhaseTimer(std::string label = "") : label_(std::move(label)) {}
  void Mark(const std::string& what) const {
    if (!LogEnabled(LogLevel::kDebug)) return;
    const auto now = std::chrono::steady_clock::now();
    char buf[200];
    std::snprintf(buf, sizeof buf, "%8.2f ms  %s%s",
                  std::chrono::duration<double, std::milli>(now - start_).count(), label_.c_str(),
                  what.c_str());
    Log(LogLevel::kDebug, buf);
  }

 private:
  std::string label_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace uvm
