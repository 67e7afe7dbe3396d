#include "base/event_loop.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>

#include <thread>

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

}  // namespace
}  // namespace uvm
