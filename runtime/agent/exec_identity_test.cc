#include "runtime/agent/exec_identity.h"

#include <gtest/gtest.h>
#include <time.h>

namespace uvm::agent {
namespace {

uint64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

TEST(ExecIdentityTest, StampsTheClockAndEntropyTheAgentAccepts) {
  ExecRequest a, b;
  a.argv = b.argv = {"true"};
  const uint64_t before = NowNs();
  ASSERT_TRUE(StampIdentity(a));
  ASSERT_TRUE(StampIdentity(b));
  const uint64_t after = NowNs();
  EXPECT_GE(a.realtime_ns, before);
  EXPECT_LE(b.realtime_ns, after);
  EXPECT_LE(a.realtime_ns, b.realtime_ns);
  EXPECT_EQ(a.entropy.size(), 2 * kExecEntropyBytes);
  EXPECT_NE(a.entropy, b.entropy);  // 256 random bits each
  // What the host sends survives the agent's decoder unchanged.
  auto json = EncodeMessage(a);
  ASSERT_TRUE(json);
  auto decoded = DecodeMessage(*json);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<ExecRequest>(*decoded).entropy, a.entropy);
  EXPECT_EQ(std::get<ExecRequest>(*decoded).realtime_ns, a.realtime_ns);
}

}  // namespace
}  // namespace uvm::agent
