// An epoll loop for the device thread: fd readiness callbacks, and a thread-safe Stop().
#pragma once

#include <cstdint>
#include <functional>
#include <map>

#include "base/result.h"
#include "base/unique_fd.h"

namespace uvm {

// An eventfd: Signal() from any thread, the loop sees it readable.
class EventFd {
 public:
  static Result<EventFd> Create(bool nonblocking = true);
  int fd() const { return fd_.get(); }
  void Signal() const;
  uint64_t Consume() const;  // 0 if nothing was signalled (nonblocking)

 private:
  UniqueFd fd_;
};

class EventLoop {
 public:
  using Callback = std::function<void(uint32_t events)>;

  static Result<EventLoop> Create();

  Result<void> Add(int fd, uint32_t events, Callback callback);
  void Remove(int fd);
  // Makes Run() return after the current round of callbacks; callable from any thread.
  void Stop() const { stop_.Signal(); }
  // Dispatches events until Stop(); `timeout_ms` >= 0 bounds one wait (then `on_timeout` runs).
  Result<void> Run(int timeout_ms = -1, std::function<void()> on_timeout = {});

 private:
  UniqueFd epoll_;
  EventFd stop_;
  std::map<int, Callback> callbacks_;
};

}  // namespace uvm
