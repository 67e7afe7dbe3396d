#include "vmm/vm_exit.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace uvm::vmm
