// A hostile driver against the chain walker: every case must end in an error (the transport turns
// it into DEVICE_NEEDS_RESET), never in a chain that points outside guest RAM or a crash. Guest
// RAM is a 1 MiB heap buffer, so ASan reports any access beyond it.
#include <gtest/gtest.h>

#include "devices/virtio/queue.h"
#include "devices/virtio/testing/fake_driver.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio {
namespace {

using testing::FakeDriver;
using testing::FakeRam;

constexpr uint64_t kRam = 1 << 20;

class QueueHostileTest : public ::testing::Test {
 protected:
  void SetUp() override { q_.state() = drv_.ReadyState(false, /*indirect=*/true); }
  // Pops and expects an error mentioning `what`; the queue must not advance.
  void ExpectBroken(const std::string& what) {
    uint16_t before = q_.state().next_avail;
    auto r = q_.PopChain(ram_.mem());
    ASSERT_FALSE(r.has_value()) << "expected an error about: " << what;
    EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
    EXPECT_EQ(q_.state().next_avail, before);
  }

  FakeRam ram_{kRam};
  FakeDriver drv_{ram_.mem(), 8, 0x1000, 0x10000};
  Queue q_{8};
};

TEST_F(QueueHostileTest, DescriptorLoop) {
  uint64_t b = drv_.Alloc(4);
  drv_.SetDesc(0, b, 4, kDescFNext, 1);
  drv_.SetDesc(1, b, 4, kDescFNext, 0);
  drv_.Publish(0);
  ExpectBroken("loops");
}

TEST_F(QueueHostileTest, SelfLoop) {
  drv_.SetDesc(3, drv_.Alloc(4), 4, kDescFNext, 3);
  drv_.Publish(3);
  ExpectBroken("loops");
}

TEST_F(QueueHostileTest, ChainOfExactlyQueueSizeIsFine) {
  uint64_t b = drv_.Alloc(4);
  for (uint16_t i = 0; i < 8; ++i) drv_.SetDesc(i, b, 4, i < 7 ? kDescFNext : 0, i + 1);
  drv_.Publish(0);
  auto r = q_.PopChain(ram_.mem());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)->readable.size(), 8u);
}

TEST_F(QueueHostileTest, HeadOutOfRange) {
  drv_.SetAvailRing(0, 8);
  drv_.SetAvailIdx(1);
  ExpectBroken("names descriptor 8");
}

TEST_F(QueueHostileTest, NextOutOfRange) {
  drv_.SetDesc(0, drv_.Alloc(4), 4, kDescFNext, 0xffff);
  drv_.Publish(0);
  ExpectBroken("out of range");
}

TEST_F(QueueHostileTest, AvailIdxJumpsPastQueueSize) {
  drv_.SetDesc(0, drv_.Alloc(4), 4, 0, 0);
  drv_.SetAvailIdx(9);
  ExpectBroken("more than the queue size");
  drv_.SetAvailIdx(0xffff);  // "behind" the device, as seen mod 2^16
  ExpectBroken("more than the queue size");
}

TEST_F(QueueHostileTest, AddrLenOverflow) {
  drv_.SetDesc(0, 0xffffffffffffff00ull, 0x200, 0, 0);
  drv_.Publish(0);
  ExpectBroken("outside guest RAM");
}

TEST_F(QueueHostileTest, BufferOutsideRam) {
  drv_.SetDesc(0, kRam - 4, 8, 0, 0);  // straddles the end
  drv_.Publish(0);
  ExpectBroken("outside guest RAM");
}

TEST_F(QueueHostileTest, BufferFarOutsideRam) {
  drv_.SetDesc(0, 1ull << 40, 1, kDescFWrite, 0);
  drv_.Publish(0);
  ExpectBroken("outside guest RAM");
}

TEST_F(QueueHostileTest, NestedIndirect) {
  uint64_t inner = drv_.Alloc(16), outer = drv_.Alloc(16);
  FakeDriver::SetTableDesc(ram_.mem(), inner, 0, drv_.Alloc(4), 4, 0, 0);
  FakeDriver::SetTableDesc(ram_.mem(), outer, 0, inner, 16, kDescFIndirect, 0);
  drv_.SetDesc(0, outer, 16, kDescFIndirect, 0);
  drv_.Publish(0);
  ExpectBroken("nested indirect");
}

TEST_F(QueueHostileTest, IndirectNotNegotiated) {
  q_.state().indirect = false;
  drv_.Post({{drv_.Alloc(4), 4, false}}, /*indirect=*/true);
  ExpectBroken("without INDIRECT_DESC");
}

TEST_F(QueueHostileTest, IndirectWithNext) {
  uint64_t table = drv_.Alloc(16);
  FakeDriver::SetTableDesc(ram_.mem(), table, 0, drv_.Alloc(4), 4, 0, 0);
  drv_.SetDesc(0, table, 16, kDescFIndirect | kDescFNext, 1);
  drv_.Publish(0);
  ExpectBroken("with NEXT");
}

TEST_F(QueueHostileTest, IndirectBadLengths) {
  uint64_t table = drv_.Alloc(32);
  for (uint32_t len : {0u, 15u, 17u, (Queue::kMaxIndirectEntries + 1) * 16}) {
    drv_.SetDesc(0, table, len, kDescFIndirect, 0);
    drv_.SetAvailRing(0, 0);
    drv_.SetAvailIdx(1);
    ExpectBroken("indirect table length");
  }
}

TEST_F(QueueHostileTest, IndirectTableOutsideRam) {
  drv_.SetDesc(0, kRam - 16, 32, kDescFIndirect, 0);
  drv_.Publish(0);
  ExpectBroken("indirect table");
}

TEST_F(QueueHostileTest, IndirectLoopAndRange) {
  uint64_t table = drv_.Alloc(32);
  uint64_t b = drv_.Alloc(4);
  FakeDriver::SetTableDesc(ram_.mem(), table, 0, b, 4, kDescFNext, 1);
  FakeDriver::SetTableDesc(ram_.mem(), table, 1, b, 4, kDescFNext, 0);
  drv_.SetDesc(0, table, 32, kDescFIndirect, 0);
  drv_.Publish(0);
  ExpectBroken("loops");
  FakeDriver::SetTableDesc(ram_.mem(), table, 1, b, 4, kDescFNext, 2);  // past the table's end
  ExpectBroken("out of range");
}

TEST_F(QueueHostileTest, OversizedChain) {
  // The same 8 MiB of RAM named 1024 times through an indirect table: 8 GiB in total, which a
  // used element's u32 len cannot express (2.7.5.1).
  constexpr uint32_t kBig = 8 << 20;
  FakeRam ram(kBig);
  FakeDriver drv(ram.mem(), 8, 0x1000, 0x10000);
  Queue q(8);
  q.state() = drv.ReadyState(false, true);
  uint64_t table = drv.Alloc(16 * Queue::kMaxIndirectEntries);
  for (uint32_t i = 0; i < Queue::kMaxIndirectEntries; ++i) {
    bool last = i + 1 == Queue::kMaxIndirectEntries;
    FakeDriver::SetTableDesc(ram.mem(), table, i, 0, kBig, last ? 0 : kDescFNext,
                             static_cast<uint16_t>(i + 1));
  }
  drv.SetDesc(0, table, 16 * Queue::kMaxIndirectEntries, kDescFIndirect, 0);
  drv.Publish(0);
  auto r = q.PopChain(ram.mem());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("longer than 4 GiB"), std::string::npos) << r.error().message;
}

TEST_F(QueueHostileTest, ReadableAfterWritable) {
  uint64_t a = drv_.Alloc(4), b = drv_.Alloc(4);
  drv_.Post({{a, 4, true}, {b, 4, false}});
  ExpectBroken("readable buffer after a device-writable");
}

TEST_F(QueueHostileTest, ReadableAfterZeroLengthWritable) {
  uint64_t a = drv_.Alloc(4);
  drv_.Post({{a, 0, true}, {a, 4, false}});
  ExpectBroken("readable buffer after a device-writable");
}

TEST_F(QueueHostileTest, EnableRejectsBadLayouts) {
  struct Case {
    const char* what;
    void (*mutate)(QueueState&);
  };
  const Case cases[] = {
      {"descriptor table misaligned", [](QueueState& s) { s.desc_addr += 8; }},
      {"avail ring misaligned", [](QueueState& s) { s.avail_addr += 1; }},
      {"used ring misaligned", [](QueueState& s) { s.used_addr += 2; }},
      {"size not a power of two", [](QueueState& s) { s.size = 6; }},
      {"size zero", [](QueueState& s) { s.size = 0; }},
      {"size above max", [](QueueState& s) { s.size = 16; }},
      {"descriptors outside RAM", [](QueueState& s) { s.desc_addr = kRam - 64; }},
      {"avail outside RAM", [](QueueState& s) { s.avail_addr = kRam - 8; }},
      {"used outside RAM", [](QueueState& s) { s.used_addr = kRam - 8; }},
      {"used wraps", [](QueueState& s) { s.used_addr = 0xfffffffffffffff0ull; }},
  };
  for (const Case& c : cases) {
    Queue q(8);
    q.state() = drv_.ReadyState();
    q.state().ready = false;
    c.mutate(q.state());
    EXPECT_FALSE(q.Enable(ram_.mem())) << c.what;
    EXPECT_FALSE(q.state().ready) << c.what;
  }
}

TEST_F(QueueHostileTest, RingRewrittenBetweenPopsStaysInBounds) {
  // A driver that changes a descriptor after the device popped it cannot affect the popped chain,
  // and the next pop checks the new value afresh.
  uint64_t b = drv_.Alloc(4);
  drv_.SetDesc(0, b, 4, 0, 0);
  drv_.Publish(0);
  auto r = q_.PopChain(ram_.mem());
  ASSERT_TRUE(r && r->has_value());
  drv_.SetDesc(0, kRam, 4, 0, 0);
  drv_.Publish(0);
  ExpectBroken("outside guest RAM");
  EXPECT_EQ((*r)->readable[0].gpa, b);
}

}  // namespace
}  // namespace uvm::devices::virtio
