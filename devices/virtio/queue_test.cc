// Normal traffic through one split virtqueue, and interrupt/notification suppression.
#include "devices/virtio/queue.h"

#include <gtest/gtest.h>

#include "devices/virtio/testing/fake_driver.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio {
namespace {

using testing::FakeDriver;
using testing::FakeRam;

class QueueTest : public ::testing::Test {
 protected:
  void SetUpQueue(bool event_idx = false, bool indirect = false) {
    q_.state() = drv_.ReadyState(event_idx, indirect);
  }
  Chain Pop() {
    auto r = q_.PopChain(ram_.mem());
    EXPECT_TRUE(r.has_value()) << r.error().message;
    EXPECT_TRUE(r->has_value());
    return std::move(**r);
  }

  FakeRam ram_{1 << 20};
  FakeDriver drv_{ram_.mem(), 8, 0x1000, 0x10000};
  Queue q_{8};
};

TEST_F(QueueTest, ResetStateUsesMaxSize) {
  Queue q(256);
  EXPECT_EQ(q.state().size, 256);
  EXPECT_EQ(q.state().max_size, 256);
  EXPECT_FALSE(q.state().ready);
}

TEST_F(QueueTest, EnableValidatesAndMarksReady) {
  q_.state() = drv_.ReadyState();
  q_.state().ready = false;
  ASSERT_TRUE(q_.Enable(ram_.mem()));
  EXPECT_TRUE(q_.state().ready);
}

TEST_F(QueueTest, EmptyQueueHasNoWork) {
  SetUpQueue();
  auto r = q_.PopChain(ram_.mem());
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
}

TEST_F(QueueTest, PopsDirectChainAndReturnsIt) {
  SetUpQueue();
  uint64_t req = drv_.Alloc(16), data = drv_.Alloc(512), status = drv_.Alloc(1);
  drv_.WriteBytes(req, std::vector<uint8_t>(16, 0xab));
  uint16_t head = drv_.Post({{req, 16, false}, {data, 512, true}, {status, 1, true}});
  Chain c = Pop();
  EXPECT_EQ(c.head, head);
  ASSERT_EQ(c.readable.size(), 1u);
  ASSERT_EQ(c.writable.size(), 2u);
  EXPECT_EQ(c.readable[0].gpa, req);
  EXPECT_EQ(c.readable[0].host, ram_.host(req));
  EXPECT_EQ(c.readable[0].host[15], 0xab);
  EXPECT_EQ(c.writable_bytes(), 513u);
  EXPECT_EQ(q_.state().next_avail, 1);

  ChainWriter w(c);
  ASSERT_TRUE(w.WriteObj(uint8_t{0x5a}));
  q_.PushUsed(ram_.mem(), c.head, static_cast<uint32_t>(w.written()));
  auto used = drv_.PopUsed();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->id, head);
  EXPECT_EQ(used->len, 1u);
  EXPECT_EQ(ram_.host(data)[0], 0x5a);
  EXPECT_FALSE(drv_.PopUsed());
}

TEST_F(QueueTest, PopsIndirectChain) {
  SetUpQueue(false, /*indirect=*/true);
  uint64_t a = drv_.Alloc(8), b = drv_.Alloc(8), c = drv_.Alloc(8);
  uint16_t head = drv_.Post({{a, 8, false}, {b, 8, false}, {c, 8, true}}, /*indirect=*/true);
  Chain ch = Pop();
  EXPECT_EQ(ch.head, head);
  EXPECT_EQ(ch.readable.size(), 2u);
  EXPECT_EQ(ch.writable.size(), 1u);
  EXPECT_EQ(ch.writable[0].gpa, c);
}

TEST_F(QueueTest, WrapsAroundManyTimes) {
  SetUpQueue();
  uint64_t buf = drv_.Alloc(4);
  for (int i = 0; i < 70000; ++i) {  // past the 16-bit wrap of both indices
    uint16_t head = drv_.Post({{buf, 4, true}});
    Chain c = Pop();
    ASSERT_EQ(c.head, head);
    q_.PushUsed(ram_.mem(), c.head, 4);
    auto used = drv_.PopUsed();
    ASSERT_TRUE(used);
    ASSERT_EQ(used->id, head);
  }
  EXPECT_EQ(q_.state().next_avail, static_cast<uint16_t>(70000));
  EXPECT_EQ(drv_.UsedIdx(), static_cast<uint16_t>(70000));
}

TEST_F(QueueTest, FullRingOfChains) {
  SetUpQueue();
  uint64_t buf = drv_.Alloc(4);
  for (int i = 0; i < 8; ++i) drv_.Post({{buf, 4, false}});
  for (int i = 0; i < 8; ++i) EXPECT_EQ(Pop().head, i);
  auto r = q_.PopChain(ram_.mem());
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
}

TEST_F(QueueTest, ZeroLengthDescriptorsAreSkipped) {
  SetUpQueue();
  uint64_t a = drv_.Alloc(4), b = drv_.Alloc(4);
  drv_.Post({{a, 0, false}, {a, 4, false}, {b, 0, true}, {b, 4, true}});
  Chain c = Pop();
  ASSERT_EQ(c.readable.size(), 1u);
  ASSERT_EQ(c.writable.size(), 1u);
  EXPECT_EQ(c.writable[0].len, 4u);
}

// A mergeable packet's buffers reach the driver together, in order, with their own lengths; the
// ring wraps around like any other used element.
TEST_F(QueueTest, PushUsedManyPublishesEveryElementInOrder) {
  SetUpQueue();
  uint64_t buf = drv_.Alloc(64);
  for (int round = 0; round < 3; ++round) {  // 3 x 3 elements on a ring of 8: wraps once
    uint16_t heads[3];
    for (auto& h : heads) h = drv_.Post({{buf, 64, true}});
    std::vector<Queue::UsedElem> elems;
    for (uint32_t i = 0; i < 3; ++i) elems.push_back({Pop().head, 10 + i});
    q_.PushUsedMany(ram_.mem(), elems);
    for (uint32_t i = 0; i < 3; ++i) {
      auto used = drv_.PopUsed();
      ASSERT_TRUE(used) << round << " " << i;
      EXPECT_EQ(used->id, heads[i]);
      EXPECT_EQ(used->len, 10 + i);
    }
    EXPECT_FALSE(drv_.PopUsed());
  }
  EXPECT_EQ(q_.state().next_used, 9);
}

TEST_F(QueueTest, NoInterruptFlagSuppresses) {
  SetUpQueue();
  uint64_t buf = drv_.Alloc(4);
  drv_.Post({{buf, 4, true}});
  q_.PushUsed(ram_.mem(), Pop().head, 0);
  EXPECT_TRUE(q_.NeedsInterrupt(ram_.mem()));
  drv_.SetAvailFlags(kAvailFNoInterrupt);
  drv_.Post({{buf, 4, true}});
  q_.PushUsed(ram_.mem(), Pop().head, 0);
  EXPECT_FALSE(q_.NeedsInterrupt(ram_.mem()));
}

TEST_F(QueueTest, EventIdxUsedEvent) {
  SetUpQueue(/*event_idx=*/true);
  uint64_t buf = drv_.Alloc(4);
  // The first decision after enabling has no history: interrupt.
  drv_.Post({{buf, 4, true}});
  q_.PushUsed(ram_.mem(), Pop().head, 0);  // used idx 1
  EXPECT_TRUE(q_.NeedsInterrupt(ram_.mem()));
  // The driver wants an interrupt only once used idx passes 3 (i.e. when entry 3 is used).
  drv_.SetUsedEvent(3);
  for (int i = 0; i < 2; ++i) {  // used idx 2, 3
    drv_.Post({{buf, 4, true}});
    q_.PushUsed(ram_.mem(), Pop().head, 0);
    EXPECT_FALSE(q_.NeedsInterrupt(ram_.mem())) << i;
  }
  drv_.Post({{buf, 4, true}});
  q_.PushUsed(ram_.mem(), Pop().head, 0);  // used idx 4: passed used_event 3
  EXPECT_TRUE(q_.NeedsInterrupt(ram_.mem()));
  // Several pushed at once, crossing used_event in the middle: one interrupt.
  drv_.SetUsedEvent(5);
  for (int i = 0; i < 3; ++i) {
    drv_.Post({{buf, 4, true}});
    q_.PushUsed(ram_.mem(), Pop().head, 0);
  }
  EXPECT_TRUE(q_.NeedsInterrupt(ram_.mem()));
  EXPECT_FALSE(q_.NeedsInterrupt(ram_.mem()));  // nothing new since
}

TEST_F(QueueTest, EventIdxPublishesAvailEvent) {
  SetUpQueue(/*event_idx=*/true);
  uint64_t buf = drv_.Alloc(4);
  drv_.Post({{buf, 4, true}});
  drv_.Post({{buf, 4, true}});
  // While buffers are pending the device does not ask for notifications...
  Pop();
  EXPECT_EQ(drv_.AvailEvent(), 0);
  Pop();
  EXPECT_EQ(drv_.AvailEvent(), 0);
  // ...once it finds the ring empty it asks to be notified of the next buffer (index 2).
  auto r = q_.PopChain(ram_.mem());
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(drv_.AvailEvent(), 2);
  // vring_need_event as a driver computes it (2.7.10): posting buffer 2 must notify, while the
  // buffers 0 and 1 posted before (avail_event 0, old idx 1 -> new idx 2) needed no second kick.
  auto need_event = [](uint16_t event, uint16_t new_idx, uint16_t old_idx) {
    return static_cast<uint16_t>(new_idx - event - 1) < static_cast<uint16_t>(new_idx - old_idx);
  };
  EXPECT_TRUE(need_event(drv_.AvailEvent(), 3, 2));
  EXPECT_FALSE(need_event(0, 2, 1));
}

TEST_F(QueueTest, NotificationSuppressionWithoutEventIdx) {
  SetUpQueue();
  q_.DisableNotifications(ram_.mem());
  EXPECT_EQ(drv_.UsedFlags(), kUsedFNoNotify);
  EXPECT_FALSE(q_.EnableNotifications(ram_.mem()));
  EXPECT_EQ(drv_.UsedFlags(), 0);
  q_.DisableNotifications(ram_.mem());
  drv_.Post({{drv_.Alloc(4), 4, true}});
  EXPECT_TRUE(q_.EnableNotifications(ram_.mem()));  // a buffer arrived while disabled
}

TEST_F(QueueTest, NotificationSuppressionWithEventIdx) {
  SetUpQueue(/*event_idx=*/true);
  q_.DisableNotifications(ram_.mem());
  EXPECT_EQ(drv_.UsedFlags(), 0);  // flags are not used with EVENT_IDX
  drv_.Post({{drv_.Alloc(4), 4, true}});
  EXPECT_TRUE(q_.EnableNotifications(ram_.mem()));
  EXPECT_EQ(drv_.AvailEvent(), 0);
  Pop();
  EXPECT_FALSE(q_.EnableNotifications(ram_.mem()));
  EXPECT_EQ(drv_.AvailEvent(), 1);
}

// 2.7.13/2.7.14: a chain popped and not used is still the driver's offer; given back, it is
// popped again, across the wrap of the 16-bit index too.
TEST_F(QueueTest, UnpopGivesBackTheLastChainsInOrder) {
  SetUpQueue();
  q_.state().next_avail = q_.state().next_used = 0xfffe;
  drv_.SetAvailIdx(0xfffe);
  uint64_t a = drv_.Alloc(64);
  const uint16_t h1 = drv_.Post({{a, 64, true}});
  const uint16_t h2 = drv_.Post({{a, 64, true}});
  const uint16_t h3 = drv_.Post({{a, 64, true}});
  Chain c1 = Pop();
  Chain c2 = Pop();
  Chain c3 = Pop();
  ASSERT_EQ(c1.head, h1);
  q_.PushUsed(ram_.mem(), c1.head, 0);
  const uint16_t back[] = {c2.head, c3.head};
  auto r = q_.Unpop(ram_.mem(), back);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(q_.state().next_avail, 0xffff);
  EXPECT_EQ(Pop().head, h2);
  EXPECT_EQ(Pop().head, h3);
  auto none = q_.PopChain(ram_.mem());
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
}

TEST_F(QueueTest, UnpopRefusesChainsThatAreNotTheLastPopped) {
  SetUpQueue();
  uint64_t a = drv_.Alloc(64);
  drv_.Post({{a, 64, true}});
  drv_.Post({{a, 64, true}});
  Chain c1 = Pop();
  Chain c2 = Pop();
  const QueueState before = q_.state();
  // Not in pop order, or an older chain without the newer one.
  const uint16_t swapped[] = {c2.head, c1.head};
  EXPECT_FALSE(q_.Unpop(ram_.mem(), swapped));
  const uint16_t older[] = {c1.head};
  EXPECT_FALSE(q_.Unpop(ram_.mem(), older));
  // More than the device holds: one of the two was already used.
  q_.PushUsed(ram_.mem(), c1.head, 0);
  const uint16_t both[] = {c1.head, c2.head};
  EXPECT_FALSE(q_.Unpop(ram_.mem(), both));
  EXPECT_EQ(q_.state().next_avail, before.next_avail);
  const uint16_t last[] = {c2.head};
  EXPECT_TRUE(q_.Unpop(ram_.mem(), last));
  EXPECT_EQ(q_.state().next_avail, before.next_avail - 1);
}

TEST_F(QueueTest, ResetForgetsEverything) {
  SetUpQueue();
  drv_.Post({{drv_.Alloc(4), 4, true}});
  Pop();
  q_.Reset();
  EXPECT_FALSE(q_.state().ready);
  EXPECT_EQ(q_.state().next_avail, 0);
  EXPECT_EQ(q_.state().desc_addr, 0u);
  EXPECT_FALSE(q_.PopChain(ram_.mem()));  // not ready: an error, not a chain
}

}  // namespace
}  // namespace uvm::devices::virtio
