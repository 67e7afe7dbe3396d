#include "guest-agent/identity.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace uvm::agent {
namespace {

// Records what ApplyIdentity asks of the system instead of doing it (tests must not set the
// host's clock or feed its entropy pool).
struct FakeSystem {
  uint64_t now_ns = 1'700'000'000'000'000'000ull;
  bool fail_clock = false, fail_add = false, fail_reseed = false;
  std::vector<std::string> calls;
  std::vector<uint64_t> clock_set;
  std::string added;

  IdentityOps Ops() {
    IdentityOps ops;
    ops.realtime_now_ns = [this] { return now_ns; };
    ops.set_realtime = [this](uint64_t ns) -> Result<void> {
      calls.push_back("set_realtime");
      if (fail_clock) return Err("setting the clock: Operation not permitted");
      clock_set.push_back(ns);
      return {};
    };
    ops.add_entropy = [this](std::string_view bytes) -> Result<void> {
      calls.push_back("add_entropy");
      if (fail_add) return Err("adding entropy (RNDADDENTROPY): Operation not permitted");
      added = std::string(bytes);
      return {};
    };
    ops.reseed_crng = [this]() -> Result<void> {
      calls.push_back("reseed_crng");
      if (fail_reseed) return Err("reseeding the CRNG (RNDRESEEDCRNG): No data available");
      return {};
    };
    return ops;
  }
};

ExecRequest WithIdentity(uint64_t realtime_ns, std::string entropy_bytes) {
  ExecRequest r;
  r.argv = {"true"};
  r.realtime_ns = realtime_ns;
  r.entropy = EncodeEntropy(entropy_bytes);
  return r;
}

TEST(IdentityTest, ARequestWithoutIdentityTouchesNothing) {
  FakeSystem sys;
  ASSERT_TRUE(ApplyIdentity(WithIdentity(0, ""), sys.Ops()));
  EXPECT_TRUE(sys.calls.empty());
}

TEST(IdentityTest, TheClockIsSteppedOnlyWhenItIsOffByMoreThanTheTolerance) {
  FakeSystem sys;
  const uint64_t now = sys.now_ns;
  // A clone resumes with its template's time: minutes behind.
  ASSERT_TRUE(ApplyIdentity(WithIdentity(now + 300'000'000'000ull, ""), sys.Ops()));
  // Ahead of the host too (a clock that must go back).
  ASSERT_TRUE(ApplyIdentity(WithIdentity(now - 2 * kClockToleranceNs, ""), sys.Ops()));
  // Within the tolerance either way: left alone.
  ASSERT_TRUE(ApplyIdentity(WithIdentity(now + kClockToleranceNs, ""), sys.Ops()));
  ASSERT_TRUE(ApplyIdentity(WithIdentity(now - kClockToleranceNs / 2, ""), sys.Ops()));
  EXPECT_EQ(sys.clock_set,
            (std::vector<uint64_t>{now + 300'000'000'000ull, now - 2 * kClockToleranceNs}));
}

TEST(IdentityTest, EntropyIsAddedAsBytesThenTheCrngIsReseeded) {
  FakeSystem sys;
  std::string bytes;
  for (int i = 0; i < 48; ++i) bytes.push_back(static_cast<char>(i * 7));
  ASSERT_TRUE(ApplyIdentity(WithIdentity(0, bytes), sys.Ops()));
  EXPECT_EQ(sys.added, bytes);
  EXPECT_EQ(sys.calls, (std::vector<std::string>{"add_entropy", "reseed_crng"}));
}

TEST(IdentityTest, AFailedReseedIsNotFatalButAFailedAddIs) {
  FakeSystem sys;
  sys.fail_reseed = true;
  EXPECT_TRUE(ApplyIdentity(WithIdentity(0, std::string(32, 'x')), sys.Ops()));

  FakeSystem add;
  add.fail_add = true;
  auto r = ApplyIdentity(WithIdentity(0, std::string(32, 'x')), add.Ops());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("RNDADDENTROPY"), std::string::npos);
  EXPECT_EQ(add.calls, (std::vector<std::string>{"add_entropy"}));  // no reseed after a failure
}

TEST(IdentityTest, AClockThatCannotBeSetEndsTheExecBeforeTheEntropy) {
  FakeSystem sys;
  sys.fail_clock = true;
  auto r = ApplyIdentity(WithIdentity(sys.now_ns / 2, std::string(32, 'x')), sys.Ops());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("setting the clock"), std::string::npos);
  EXPECT_EQ(sys.calls, (std::vector<std::string>{"set_realtime"}));
}

TEST(IdentityTest, EntropyThatSkippedTheDecoderIsStillChecked) {
  FakeSystem sys;
  ExecRequest r;
  r.entropy = "zz";  // built in memory, never decoded
  auto out = ApplyIdentity(r, sys.Ops());
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("'entropy'"), std::string::npos);
  EXPECT_TRUE(sys.calls.empty());
}

}  // namespace
}  // namespace uvm::agent
