// An epoll loop for the device thread: fd readiness callbacks, and a thread-safe Stop().
//
// Add() and Remove() may be called from any thread (a vCPU thread resetting a device closes its
// sockets). A callback is copied out under the lock and run without it, so after Remove() returns
// a callback for that fd may still be running or about to run once on the loop thread: callbacks
// must look their object up (by key, under the owner's lock) rather than trust the fd. The copy is
// a shared reference, not a copy of the callable: dispatching allocates nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

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
  // Changes the events an added fd waits for and keeps its callback: one epoll_ctl where
  // Remove() and Add() take two (a vsock connection flips EPOLLIN with the guest's credit).
  Result<void> Modify(int fd, uint32_t events);
  void Remove(int fd);
  // Makes Run() return after the current round of callbacks; callable from any thread.
  void Stop() const { stop_.Signal(); }
  // Dispatches events until Stop(); `timeout_ms` >= 0 bounds one wait (then `on_timeout` runs).
  Result<void> Run(int timeout_ms = -1, std::function<void()> on_timeout = {});

 private:
  struct Callbacks {
    std::mutex mu;
    std::map<int, std::shared_ptr<const Callback>> by_fd;
  };

  UniqueFd epoll_;
  EventFd stop_;
  std::unique_ptr<Callbacks> callbacks_ = std::make_unique<Callbacks>();  // stable across moves
};

}  // namespace uvm
