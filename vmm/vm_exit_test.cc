#include "vmm/vm_exit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace uvm::vmm {
namespace {

TEST(ExitLatchTest, FirstReportWinsAndHooksRunOnce) {
  ExitLatch latch;
  int hooks = 0;
  latch.OnFire([&] { ++hooks; });
  EXPECT_FALSE(latch.fired());
  EXPECT_TRUE(latch.Report({ExitKind::kReset, 0, "a"}));
  EXPECT_FALSE(latch.Report({ExitKind::kError, 0, "b"}));
  EXPECT_EQ(hooks, 1);
  EXPECT_EQ(latch.Wait().kind, ExitKind::kReset);
  EXPECT_EQ(latch.Wait().detail, "a");
}

TEST(ExitLatchTest, WaitBlocksUntilReported) {
  ExitLatch latch;
  std::thread t([&] { latch.Report({ExitKind::kPowerOff, 7, ""}); });
  VmExit e = latch.Wait();
  t.join();
  EXPECT_EQ(e.kind, ExitKind::kPowerOff);
  EXPECT_EQ(e.status, 7);
}

// A waiter may destroy what the hooks use as soon as Wait() returns, so Wait() must not return
// while a hook still runs on the reporting thread (uvm run's Stop() from its main thread raced the
// VM thread's teardown this way).
TEST(ExitLatchTest, WaitReturnsOnlyAfterTheHooksHaveRun) {
  ExitLatch latch;
  std::atomic<bool> hook_started{false}, hook_finished{false};
  latch.OnFire([&] {
    hook_started = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    hook_finished = true;
  });
  std::thread reporter([&] { latch.Report({ExitKind::kHostSignal, 0, "stop"}); });
  while (!hook_started) std::this_thread::yield();
  EXPECT_TRUE(latch.fired());  // vCPU loops see the exit at once
  latch.Wait();
  EXPECT_TRUE(hook_finished);
  reporter.join();
}

}  // namespace
}  // namespace uvm::vmm
