#include "runtime/pool/shape_table.h"

#include <gtest/gtest.h>

namespace uvm::runtime {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct FakeVm {
  int id = 0;
  bool ended = false;
  bool finished() const { return ended; }
};

TemplateShape Shape(const std::string& image) {
  TemplateShape s;
  s.kernel = "/k";
  s.initrd = "/i";
  s.image_name = image;
  return s;
}

std::unique_ptr<FakeVm> Vm(int id) { return std::make_unique<FakeVm>(FakeVm{id, false}); }

class ShapeTableTest : public ::testing::Test {
 protected:
  ShapeTablePolicy Policy() {
    ShapeTablePolicy p;
    p.size = 2;
    p.max_shapes = 2;
    return p;
  }
  // Fills `key` with VMs numbered from `first`, as the filler would.
  void Fill(ShapeTable<FakeVm>& t, const std::string& key, int first, int count) {
    for (int i = 0; i < count; ++i) ASSERT_EQ(t.Filled(key, Vm(first + i)), nullptr);
  }
  Clock::time_point t0 = Clock::now();
};

TEST_F(ShapeTableTest, ANewShapeIsFilledToSizeThenWaits) {
  ShapeTable<FakeVm> t(Policy());
  EXPECT_FALSE(t.NextToFill(t0));
  EXPECT_TRUE(t.Add(Shape("a"), "ka").empty());
  auto next = t.NextToFill(t0);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->first, "ka");
  EXPECT_EQ(next->second.image_name, "a");
  Fill(t, "ka", 1, 2);
  EXPECT_FALSE(t.NextToFill(t0 + 1h)) << "full: nothing to make";
}

TEST_F(ShapeTableTest, ClaimsTakeTheOldestReadyVm) {
  ShapeTable<FakeVm> t(Policy());
  (void)t.Add(Shape("a"), "ka");
  Fill(t, "ka", 1, 2);
  std::vector<std::unique_ptr<FakeVm>> ended;
  auto first = t.Claim("ka", t0, ended);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, 1);
  auto second = t.Claim("ka", t0, ended);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, 2);
  EXPECT_TRUE(ended.empty());
  EXPECT_FALSE(t.Claim("kb", t0, ended)) << "a shape not served";
}

TEST_F(ShapeTableTest, AnEndedReadyVmIsNeverLent) {
  ShapeTable<FakeVm> t(Policy());
  (void)t.Add(Shape("a"), "ka");
  auto dead = Vm(1);
  dead->ended = true;
  ASSERT_EQ(t.Filled("ka", std::move(dead)), nullptr);
  ASSERT_EQ(t.Filled("ka", Vm(2)), nullptr);
  std::vector<std::unique_ptr<FakeVm>> ended;
  auto vm = t.Claim("ka", t0, ended);
  ASSERT_TRUE(vm);
  EXPECT_EQ(vm->id, 2);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0]->id, 1);
  auto none = t.Claim("ka", t0, ended);
  EXPECT_FALSE(none);
  auto status = t.Status({{"ka", 1}});
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].served, 1u);
  EXPECT_EQ(status[0].missed, 1u);
  EXPECT_EQ(status[0].in_use, 1);
  EXPECT_EQ(status[0].ready, 0);
}

TEST_F(ShapeTableTest, RefillWaitsForQuietUnlessNothingIsLeft) {
  ShapeTable<FakeVm> t(Policy());
  (void)t.Add(Shape("a"), "ka");
  Fill(t, "ka", 1, 2);
  std::vector<std::unique_ptr<FakeVm>> ended;
  ASSERT_TRUE(t.Claim("ka", t0, ended));
  // One left and a claim just now: the replacement waits, so it does not compete with the
  // container that just started.
  EXPECT_FALSE(t.NextToFill(t0 + 100ms));
  EXPECT_TRUE(t.NextToFill(t0 + 300ms));
  // None left: made at once.
  ASSERT_TRUE(t.Claim("ka", t0 + 10ms, ended));
  EXPECT_TRUE(t.NextToFill(t0 + 20ms));
}

TEST_F(ShapeTableTest, TheShapeWithFewerReadyVmsComesFirst) {
  ShapeTable<FakeVm> t(Policy());
  (void)t.Add(Shape("a"), "ka");
  (void)t.Add(Shape("b"), "kb");
  Fill(t, "ka", 1, 1);
  auto next = t.NextToFill(t0 + 1h);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->first, "kb");
}

TEST_F(ShapeTableTest, AFailingShapeWaitsBeforeItIsTriedAgain) {
  ShapeTable<FakeVm> t(Policy());
  (void)t.Add(Shape("a"), "ka");
  t.FillFailed("ka", "no template", t0);
  EXPECT_EQ(t.Error("ka"), "no template");
  EXPECT_FALSE(t.NextToFill(t0 + 29s));
  EXPECT_TRUE(t.NextToFill(t0 + 31s));
  Fill(t, "ka", 1, 1);
  EXPECT_EQ(t.Error("ka"), "") << "a VM made clears the error";
}

TEST_F(ShapeTableTest, TheShapeClaimedLongestAgoGivesWayAndHandsBackItsVms) {
  ShapeTable<FakeVm> t(Policy());
  (void)t.Add(Shape("a"), "ka");
  (void)t.Add(Shape("b"), "kb");
  Fill(t, "ka", 1, 2);
  Fill(t, "kb", 3, 1);
  std::vector<std::unique_ptr<FakeVm>> ended;
  ASSERT_TRUE(t.Claim("ka", t0 + 1s, ended));  // kb's last claim is older
  std::string evicted;
  auto freed = t.Add(Shape("c"), "kc", &evicted);
  EXPECT_EQ(evicted, "kb");
  ASSERT_EQ(freed.size(), 1u);
  EXPECT_EQ(freed[0]->id, 3);
  EXPECT_TRUE(t.Serves("ka"));
  EXPECT_FALSE(t.Serves("kb"));
  EXPECT_TRUE(t.Serves("kc"));
  // A VM made for a shape dropped meanwhile comes back to the caller.
  auto late = t.Filled("kb", Vm(9));
  ASSERT_TRUE(late);
  EXPECT_EQ(late->id, 9);
}

TEST_F(ShapeTableTest, EndedWaitingVmsAndStopTakeEverythingBack) {
  ShapeTable<FakeVm> t(Policy());
  (void)t.Add(Shape("a"), "ka");
  auto dead = Vm(1);
  dead->ended = true;
  ASSERT_EQ(t.Filled("ka", std::move(dead)), nullptr);
  Fill(t, "ka", 2, 1);
  auto gone = t.TakeEnded();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].first, "ka");
  EXPECT_EQ(gone[0].second->id, 1);
  auto all = t.TakeAllReady();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]->id, 2);
  EXPECT_TRUE(t.Serves("ka"));
  EXPECT_EQ(t.Status({})[0].ready, 0);
}

}  // namespace
}  // namespace uvm::runtime
