#include "base/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace uvm {

Result<EventFd> EventFd::Create(bool nonblocking) {
  int fd = ::eventfd(0, EFD_CLOEXEC | (nonblocking ? EFD_NONBLOCK : 0));
  if (fd < 0) return ErrnoErr("eventfd");
  EventFd e;
  e.fd_.Reset(fd);
  return e;
}

void EventFd::Signal() const {
  uint64_t one = 1;
  ssize_t unused = ::write(fd(), &one, sizeof one);
  (void)unused;  // only fails when the counter would overflow: it is readable then anyway
}

uint64_t EventFd::Consume() const {
  uint64_t value = 0;
  if (::read(fd(), &value, sizeof value) != sizeof value) return 0;
  return value;
}

Result<EventLoop> EventLoop::Create() {
  EventLoop loop;
  loop.epoll_.Reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!loop.epoll_.valid()) return ErrnoErr("epoll_create1");
  UVM_TRY(loop.stop_, EventFd::Create());
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = loop.stop_.fd();
  if (::epoll_ctl(loop.epoll_.get(), EPOLL_CTL_ADD, loop.stop_.fd(), &ev) < 0) {
    return ErrnoErr("epoll_ctl");
  }
  return loop;
}

Result<void> EventLoop::Add(int fd, uint32_t events, Callback callback) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  // The callback is in place before epoll can report the fd.
  {
    std::lock_guard lock(callbacks_->mu);
    callbacks_->by_fd[fd] = std::make_shared<const Callback>(std::move(callback));
  }
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) {
    const int err = errno;
    std::lock_guard lock(callbacks_->mu);
    callbacks_->by_fd.erase(fd);
    return ErrnoErr("epoll_ctl add", err);
  }
  return {};
}

Result<void> EventLoop::Modify(int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) < 0) return ErrnoErr("epoll_ctl mod");
  return {};
}

void EventLoop::Remove(int fd) {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  std::lock_guard lock(callbacks_->mu);
  callbacks_->by_fd.erase(fd);
}

Result<void> EventLoop::Run(int timeout_ms, std::function<void()> on_timeout) {
  epoll_event events[16];
  for (;;) {
    int n = ::epoll_wait(epoll_.get(), events, 16, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoErr("epoll_wait");
    }
    if (n == 0 && on_timeout) on_timeout();
    bool stop = false;
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == stop_.fd()) {
        stop_.Consume();
        stop = true;
        continue;
      }
      // Look up each time: a callback may have removed this fd or another one.
      std::shared_ptr<const Callback> cb;
      {
        std::lock_guard lock(callbacks_->mu);
        auto it = callbacks_->by_fd.find(fd);
        if (it != callbacks_->by_fd.end()) cb = it->second;
      }
      if (cb && *cb) (*cb)(events[i].events);
    }
    if (stop) return {};
  }
}

}  // namespace uvm
