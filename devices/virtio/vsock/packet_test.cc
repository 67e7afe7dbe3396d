#include "devices/virtio/vsock/packet.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "devices/virtio/vsock/test_chain.h"

namespace uvm::devices::virtio::vsock {
namespace {

using testing::Bytes;
using testing::ChainBuilder;

constexpr uint64_t kGuestCid = 3;

VsockHeader GuestHeader(Op op, uint32_t len = 0) {
  VsockHeader h = testing::GuestStreamHeader(kGuestCid, 1234, 5000, op);
  h.len = len;
  h.buf_alloc = 65536;
  return h;
}

std::string Collect(const VsockPacket& p) {
  std::string s;
  for (auto span : p.payload) s.append(reinterpret_cast<const char*>(span.data()), span.size());
  return s;
}

TEST(VsockPacket, ParsesRequest) {
  ChainBuilder b;
  b.Readable(Bytes(GuestHeader(Op::kRequest)));
  auto p = ParsePacket(b.chain(), kGuestCid);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_FALSE(p->unsupported);
  EXPECT_EQ(p->hdr.op, static_cast<uint16_t>(Op::kRequest));
  EXPECT_EQ(p->hdr.src_port, 1234u);
  EXPECT_EQ(p->hdr.buf_alloc, 65536u);
  EXPECT_TRUE(p->payload.empty());
}

TEST(VsockPacket, ParsesRwPayloadAcrossBuffers) {
  ChainBuilder b;
  b.Readable(Bytes(GuestHeader(Op::kRw, 5))).Readable({'h', 'e'}).Readable({'l', 'l', 'o'});
  auto p = ParsePacket(b.chain(), kGuestCid);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->payload.size(), 2u);
  EXPECT_EQ(Collect(*p), "hello");
}

TEST(VsockPacket, HeaderAndPayloadShareBuffer) {
  auto bytes = Bytes(GuestHeader(Op::kRw, 3));
  bytes.insert(bytes.end(), {'a', 'b', 'c'});
  ChainBuilder b;
  b.Readable(bytes);
  auto p = ParsePacket(b.chain(), kGuestCid);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(Collect(*p), "abc");
}

TEST(VsockPacket, HeaderSplitAcrossBuffers) {
  auto bytes = Bytes(GuestHeader(Op::kShutdown));
  ChainBuilder b;
  b.Readable({bytes.begin(), bytes.begin() + 7})
      .Readable({bytes.begin() + 7, bytes.begin() + 30})
      .Readable({bytes.begin() + 30, bytes.end()});
  auto p = ParsePacket(b.chain(), kGuestCid);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->hdr.op, static_cast<uint16_t>(Op::kShutdown));
}

TEST(VsockPacket, ShortHeaderAcrossBuffersIsRefused) {
  auto bytes = Bytes(GuestHeader(Op::kRequest));
  ChainBuilder b;
  b.Readable({bytes.begin(), bytes.begin() + 20}).Readable({bytes.begin() + 20, bytes.end() - 1});
  EXPECT_FALSE(ParsePacket(b.chain(), kGuestCid));
  ChainBuilder empty;
  EXPECT_FALSE(ParsePacket(empty.chain(), kGuestCid));
}

TEST(VsockPacket, LenLargerThanPayloadIsRefused) {
  ChainBuilder b;
  b.Readable(Bytes(GuestHeader(Op::kRw, 10))).Readable({1, 2, 3});
  auto p = ParsePacket(b.chain(), kGuestCid);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("len 10"), std::string::npos) << p.error().message;
}

TEST(VsockPacket, SurplusPayloadIsIgnored) {
  ChainBuilder b;
  b.Readable(Bytes(GuestHeader(Op::kRw, 2))).Readable({'x', 'y', 'z', 'w'});
  auto p = ParsePacket(b.chain(), kGuestCid);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(Collect(*p), "xy");
}

TEST(VsockPacket, SpoofedSourceCidIsRefused) {
  auto h = GuestHeader(Op::kRequest);
  h.src_cid = kHostCid;
  ChainBuilder b;
  b.Readable(Bytes(h));
  EXPECT_FALSE(ParsePacket(b.chain(), kGuestCid));
  h.src_cid = kGuestCid + 1;
  ChainBuilder b2;
  b2.Readable(Bytes(h));
  EXPECT_FALSE(ParsePacket(b2.chain(), kGuestCid));
}

TEST(VsockPacket, WrongDestinationCidIsRefused) {
  for (uint64_t dst : {uint64_t{0}, uint64_t{1}, kGuestCid, uint64_t{~0ull}}) {
    auto h = GuestHeader(Op::kRequest);
    h.dst_cid = dst;
    ChainBuilder b;
    b.Readable(Bytes(h));
    EXPECT_FALSE(ParsePacket(b.chain(), kGuestCid)) << dst;
  }
}

TEST(VsockPacket, UnknownOpIsUnsupported) {
  for (uint16_t op : {uint16_t{0}, uint16_t{8}, uint16_t{0xffff}}) {
    auto h = GuestHeader(Op::kRequest);
    h.op = op;
    ChainBuilder b;
    b.Readable(Bytes(h));
    auto p = ParsePacket(b.chain(), kGuestCid);
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_TRUE(p->unsupported) << op;
    EXPECT_TRUE(p->payload.empty());
  }
}

TEST(VsockPacket, DgramAndSeqpacketAreUnsupportedAndGetRst) {
  for (uint16_t type : {uint16_t{0}, kTypeSeqpacket, uint16_t{3}}) {
    auto h = GuestHeader(Op::kRequest);
    h.type = type;
    ChainBuilder b;
    b.Readable(Bytes(h));
    auto p = ParsePacket(b.chain(), kGuestCid);
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_TRUE(p->unsupported);
    auto rst = ResetReplyFor(p->hdr);
    ASSERT_TRUE(rst);
    EXPECT_EQ(rst->op, static_cast<uint16_t>(Op::kRst));
    EXPECT_EQ(rst->src_cid, kHostCid);
    EXPECT_EQ(rst->dst_cid, kGuestCid);
    EXPECT_EQ(rst->src_port, 5000u);
    EXPECT_EQ(rst->dst_port, 1234u);
    EXPECT_EQ(rst->type, type);
  }
}

TEST(VsockPacket, RstIsNeverAnsweredWithRst) { EXPECT_FALSE(ResetReplyFor(GuestHeader(Op::kRst))); }

TEST(VsockPacket, OversizedLenIsRefused) {
  ChainBuilder b;
  b.Readable(Bytes(GuestHeader(Op::kRw, kMaxPayload + 1)))
      .Readable(std::vector<uint8_t>(kMaxPayload + 1));
  EXPECT_FALSE(ParsePacket(b.chain(), kGuestCid));
  ChainBuilder ok;
  ok.Readable(Bytes(GuestHeader(Op::kRw, kMaxPayload))).Readable(std::vector<uint8_t>(kMaxPayload));
  EXPECT_TRUE(ParsePacket(ok.chain(), kGuestCid));
  ChainBuilder huge;
  huge.Readable(Bytes(GuestHeader(Op::kRw, 0xffffffffu)));
  EXPECT_FALSE(ParsePacket(huge.chain(), kGuestCid));
}

TEST(VsockPacket, PayloadOnControlOpIsRefused) {
  ChainBuilder b;
  b.Readable(Bytes(GuestHeader(Op::kCreditUpdate, 2))).Readable({1, 2});
  EXPECT_FALSE(ParsePacket(b.chain(), kGuestCid));
}

TEST(VsockPacket, WritePacketAcrossBuffers) {
  ChainBuilder b;
  b.Writable(30).Writable(20).Writable(10);
  ChainWriter w(b.chain());
  EXPECT_EQ(PayloadRoom(w), 16u);
  VsockHeader h = GuestHeader(Op::kRw, 999);  // len is overwritten
  const uint8_t data[] = {'p', 'a', 'y', 'l', 'o', 'a', 'd'};
  EXPECT_EQ(WritePacket(w, h, data), 44u + 7u);
  EXPECT_EQ(w.written(), 51u);
  // Read it back as if it were a TX chain.
  Chain back;
  back.readable = b.chain().writable;
  auto p = ParsePacket(back, kGuestCid);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->hdr.len, 7u);
  EXPECT_EQ(Collect(*p), "payload");
}

TEST(VsockPacket, WritePacketRefusesWhatDoesNotFit) {
  ChainBuilder b;
  b.Writable(43);
  ChainWriter w(b.chain());
  EXPECT_EQ(PayloadRoom(w), 0u);
  EXPECT_EQ(WritePacket(w, GuestHeader(Op::kRst), {}), 0u);
  EXPECT_EQ(w.written(), 0u);

  ChainBuilder b2;
  b2.Writable(50);
  ChainWriter w2(b2.chain());
  const std::vector<uint8_t> data(7);
  EXPECT_EQ(WritePacket(w2, GuestHeader(Op::kRw), data), 0u);
  EXPECT_EQ(w2.written(), 0u);
  EXPECT_EQ(WritePacket(w2, GuestHeader(Op::kRw), std::span(data).first(6)), 50u);
}

}  // namespace
}  // namespace uvm::devices::virtio::vsock
