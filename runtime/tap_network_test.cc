#include "runtime/tap_network.h"

#include <gtest/gtest.h>

namespace uvm::runtime {
namespace {

TEST(RunNetworkTest, PlansAPointToPointSubnetFromTheRunId) {
  auto n = PlanTapNetwork("00000002abcdef12", {});
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->tap, "uvm00000002");
  EXPECT_EQ(n->host_address, "172.30.0.9");
  EXPECT_EQ(n->guest_address, "172.30.0.10");
  EXPECT_EQ(n->prefix, 30);
  EXPECT_EQ(n->mac, "02:00:00:00:02:00");
}

TEST(RunNetworkTest, SkipsSubnetsTheHostAlreadyUses) {
  // 172.30.0.8/30 and 172.30.0.12/30 hold host addresses: the next free one is 172.30.0.16/30.
  auto n = PlanTapNetwork("00000002ffffffff", {0xac1e000a, 0xac1e000d, 0x7f000001});
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->host_address, "172.30.0.17");
  EXPECT_EQ(n->guest_address, "172.30.0.18");
}

TEST(RunNetworkTest, WrapsAroundAndFailsWhenEverySubnetIsTaken) {
  auto last = PlanTapNetwork("00003fff00000000", {});
  ASSERT_TRUE(last);
  EXPECT_EQ(last->host_address, "172.30.255.253");
  std::vector<uint32_t> all;
  for (uint32_t i = 0; i < kTapSubnets; ++i) all.push_back(kTapSubnetBase + 4 * i + 1);
  EXPECT_FALSE(PlanTapNetwork("12345678", all));
  EXPECT_FALSE(PlanTapNetwork("not-hex!", {}));
  EXPECT_FALSE(PlanTapNetwork("abc", {}));
}

}  // namespace
}  // namespace uvm::runtime
