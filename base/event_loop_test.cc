#include "base/event_loop.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

namespace uvm {
namespace {

TEST(EventLoopTest, DispatchesReadyFdsAndStopsFromAnotherThread) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop);
  auto ev = EventFd::Create();
  ASSERT_TRUE(ev);
  int seen = 0;
  ASSERT_TRUE(loop->Add(ev->fd(), EPOLLIN, [&](uint32_t) {
    seen += static_cast<int>(ev->Consume());
    if (seen >= 3) loop->Stop();
  }));
  std::thread t([&] {
    for (int i = 0; i < 3; ++i) ev->Signal();
  });
  ASSERT_TRUE(loop->Run());
  t.join();
  EXPECT_GE(seen, 3);
}

TEST(EventLoopTest, TimeoutCallbackRuns) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop);
  int timeouts = 0;
  ASSERT_TRUE(loop->Run(1, [&] {
    if (++timeouts == 2) loop->Stop();
  }));
  EXPECT_EQ(timeouts, 2);
}

// Modify changes what an fd waits for and keeps its callback; an fd never added cannot be modified.
TEST(EventLoopTest, ModifyChangesTheEventsAndKeepsTheCallback) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd rd(fds[0]), wr(fds[1]);
  uint32_t seen = 0;
  ASSERT_TRUE(loop->Add(wr.get(), 0, [&](uint32_t events) {
    seen = events;
    loop->Stop();
  }));
  ASSERT_TRUE(loop->Run(10, [&] { loop->Stop(); }));
  EXPECT_EQ(seen, 0u) << "no events asked for: the writable pipe is not reported";
  ASSERT_TRUE(loop->Modify(wr.get(), EPOLLOUT));
  ASSERT_TRUE(loop->Run(1000, [&] { loop->Stop(); }));
  EXPECT_EQ(seen, static_cast<uint32_t>(EPOLLOUT));
  EXPECT_FALSE(loop->Modify(rd.get(), EPOLLIN));
}

// A vCPU thread resetting a device adds and removes fds while the loop thread dispatches: every
// callback registered and signalled at the end must still run, removed ones must not.
TEST(EventLoopTest, AddAndRemoveFromAnotherThreadWhileRunning) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop);
  constexpr int kRounds = 200;
  std::vector<EventFd> fds;
  for (int i = 0; i < kRounds; ++i) {
    auto ev = EventFd::Create();
    ASSERT_TRUE(ev);
    fds.push_back(std::move(*ev));
  }
  std::atomic<int> removed_ran{0};
  std::atomic<int> kept_ran{0};
  std::thread other([&] {
    for (int i = 0; i < kRounds; ++i) {
      const bool keep = i == kRounds - 1;
      ASSERT_TRUE(loop->Add(fds[i].fd(), EPOLLIN, [&, i, keep](uint32_t) {
        fds[i].Consume();
        if (keep) {
          ++kept_ran;
          loop->Stop();
        } else {
          ++removed_ran;
        }
      }));
      if (!keep) loop->Remove(fds[i].fd());
      fds[i].Signal();
    }
  });
  ASSERT_TRUE(loop->Run());
  other.join();
  EXPECT_EQ(kept_ran.load(), 1);
  // A callback removed before its fd was signalled can never have been dispatched.
  EXPECT_EQ(removed_ran.load(), 0);
}

}  // namespace
}  // namespace uvm
