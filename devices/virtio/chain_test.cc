#include "devices/virtio/chain.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

namespace uvm::devices::virtio {
namespace {

TEST(ChainTest, ReaderCrossesBuffers) {
  uint8_t a[3] = {1, 2, 3}, b[5] = {4, 5, 6, 7, 8};
  Chain c;
  c.readable = {{0x100, a, 3}, {0x200, b, 5}};
  EXPECT_EQ(c.readable_bytes(), 8u);
  ChainReader r(c);
  uint32_t v;
  ASSERT_TRUE(r.ReadObj(v));
  EXPECT_EQ(v, 0x04030201u);
  EXPECT_EQ(r.remaining(), 4u);
  uint8_t rest[10] = {};
  EXPECT_EQ(r.Read(rest), 4u);
  EXPECT_EQ(rest[0], 5);
  EXPECT_EQ(rest[3], 8);
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_FALSE(r.ReadObj(v));
}

TEST(ChainTest, ReadObjConsumesNothingWhenShort) {
  uint8_t a[2] = {9, 9};
  Chain c;
  c.readable = {{0, a, 2}};
  ChainReader r(c);
  uint32_t v = 0;
  EXPECT_FALSE(r.ReadObj(v));
  EXPECT_EQ(r.remaining(), 2u);
}

TEST(ChainTest, ReaderTakeGivesSpans) {
  uint8_t a[4], b[4];
  Chain c;
  c.readable = {{0, a, 4}, {8, b, 4}};
  ChainReader r(c);
  auto spans = r.Take(6);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].data(), a);
  EXPECT_EQ(spans[0].size(), 4u);
  EXPECT_EQ(spans[1].data(), b);
  EXPECT_EQ(spans[1].size(), 2u);
  EXPECT_EQ(r.remaining(), 2u);
  EXPECT_EQ(r.Take(100).size(), 1u);
  EXPECT_TRUE(r.Take(1).empty());
}

TEST(ChainTest, WriterCountsAndStopsAtEnd) {
  uint8_t a[2] = {}, b[3] = {};
  Chain c;
  c.writable = {{0, a, 2}, {4, b, 3}};
  ChainWriter w(c);
  uint8_t data[8];
  std::iota(data, data + 8, 1);
  EXPECT_EQ(w.Write(data), 5u);
  EXPECT_EQ(w.written(), 5u);
  EXPECT_EQ(a[1], 2);
  EXPECT_EQ(b[2], 5);
  EXPECT_EQ(w.remaining(), 0u);
  EXPECT_FALSE(w.WriteObj(uint8_t{1}));
}

TEST(ChainTest, WriterTakeCountsAsWritten) {
  uint8_t a[4] = {};
  Chain c;
  c.writable = {{0, a, 4}};
  ChainWriter w(c);
  ASSERT_TRUE(w.WriteObj(uint8_t{7}));
  auto spans = w.Take(10);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].size(), 3u);
  EXPECT_EQ(w.written(), 4u);
}

// Skip steps over bytes across buffers and TakeIovecs appends the next ones to the caller's
// vector; both count as written and stop at the chain's end.
TEST(ChainTest, WriterSkipAndTakeIovecs) {
  uint8_t a[3] = {}, b[4] = {};
  Chain c;
  c.writable = {{0, a, 3}, {8, b, 4}};
  ChainWriter w(c);
  EXPECT_EQ(w.Skip(2), 2u);
  std::vector<iovec> iov = {iovec{}};
  EXPECT_EQ(w.TakeIovecs(3, iov), 3u);
  ASSERT_EQ(iov.size(), 3u);  // what was there, then a[2], then b[0..1]
  EXPECT_EQ(iov[1].iov_base, a + 2);
  EXPECT_EQ(iov[1].iov_len, 1u);
  EXPECT_EQ(iov[2].iov_base, b);
  EXPECT_EQ(iov[2].iov_len, 2u);
  EXPECT_EQ(w.Skip(10), 2u);
  EXPECT_EQ(w.written(), 7u);
  EXPECT_EQ(w.remaining(), 0u);
}

TEST(ChainTest, EmptyChain) {
  Chain c;
  ChainReader r(c);
  ChainWriter w(c);
  uint8_t buf[4];
  EXPECT_EQ(r.Read(buf), 0u);
  EXPECT_EQ(w.Write(buf), 0u);
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(w.remaining(), 0u);
}

}  // namespace
}  // namespace uvm::devices::virtio
