#include "devices/virtio/net/net_header.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "devices/virtio/testing/chain_builder.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::net {
namespace {

using testing::ChainBuilder;

constexpr uint64_t kAll = Bit(kFeatureVersion1) | Bit(kNetFCsum) | Bit(kNetFGuestCsum) |
                          Bit(kNetFHostTso4) | Bit(kNetFHostTso6) | Bit(kNetFGuestTso4) |
                          Bit(kNetFGuestTso6);

std::vector<uint8_t> HeaderBytes(const VirtioNetHdr& h) {
  std::vector<uint8_t> b(sizeof h);
  std::memcpy(b.data(), &h, sizeof h);
  return b;
}

std::vector<uint8_t> Frame(size_t n) {
  std::vector<uint8_t> f(n);
  for (size_t i = 0; i < n; ++i) f[i] = static_cast<uint8_t>(i * 13 + 1);
  return f;
}

std::vector<uint8_t> Join(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  std::vector<uint8_t> out(a.size() + b.size());
  if (!a.empty()) std::memcpy(out.data(), a.data(), a.size());
  if (!b.empty()) std::memcpy(out.data() + a.size(), b.data(), b.size());
  return out;
}

std::vector<uint8_t> Gather(const TxFrame& f) {
  std::vector<uint8_t> out;
  for (auto s : f.data) out.insert(out.end(), s.begin(), s.end());
  return out;
}

TEST(NetHeaderTest, PlainFrameInOneBuffer) {
  ChainBuilder b;
  b.Readable(Join(HeaderBytes({}), Frame(60)));
  auto f = ParseTxChain(b.chain(), kAll);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->frame_bytes, 60u);
  EXPECT_EQ(Gather(*f), Frame(60));
}

TEST(NetHeaderTest, HeaderSplitAcrossBuffersAndFrameInMany) {
  VirtioNetHdr h{};
  h.flags = kHdrFNeedsCsum;
  h.csum_start = 34;
  h.csum_offset = 16;
  h.num_buffers = 0xbeef;  // meaningless on TX: not passed on
  auto bytes = Join(HeaderBytes(h), Frame(100));
  ChainBuilder b;
  b.Readable({bytes.begin(), bytes.begin() + 5})
      .Readable({bytes.begin() + 5, bytes.begin() + 20})
      .Readable({bytes.begin() + 20, bytes.end()});
  auto f = ParseTxChain(b.chain(), kAll);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->hdr.csum_start, 34);
  EXPECT_EQ(f->hdr.num_buffers, 0);
  EXPECT_EQ(Gather(*f), Frame(100));
  EXPECT_EQ(f->data.size(), 2u);
}

TEST(NetHeaderTest, TsoWithItsFeature) {
  VirtioNetHdr h{};
  h.flags = kHdrFNeedsCsum;
  h.gso_type = kGsoTcpv4;
  h.gso_size = 1448;
  h.hdr_len = 66;
  h.csum_start = 34;
  h.csum_offset = 16;
  ChainBuilder b;
  b.Readable(Join(HeaderBytes(h), Frame(9000)));
  EXPECT_TRUE(ParseTxChain(b.chain(), kAll));
  EXPECT_FALSE(ParseTxChain(b.chain(), kAll & ~Bit(kNetFHostTso4)));
  h.gso_type = kGsoTcpv6;
  ChainBuilder b6;
  b6.Readable(Join(HeaderBytes(h), Frame(9000)));
  EXPECT_TRUE(ParseTxChain(b6.chain(), kAll));
  EXPECT_FALSE(ParseTxChain(b6.chain(), kAll & ~Bit(kNetFHostTso6)));
}

struct BadCase {
  const char* name;
  VirtioNetHdr hdr;
  size_t frame;
  uint64_t features;
};

TEST(NetHeaderTest, HostileHeadersAreRefused) {
  const BadCase cases[] = {
      {"DATA_VALID is RX only", {kHdrFDataValid, 0, 0, 0, 0, 0, 0}, 60, kAll},
      {"RSC_INFO is RX only", {kHdrFRscInfo, 0, 0, 0, 0, 0, 0}, 60, kAll},
      {"unknown flag", {0x40, 0, 0, 0, 0, 0, 0}, 60, kAll},
      {"NEEDS_CSUM without CSUM", {kHdrFNeedsCsum, 0, 0, 0, 14, 6, 0}, 60, kAll & ~Bit(kNetFCsum)},
      {"csum field past the end", {kHdrFNeedsCsum, 0, 0, 0, 50, 9, 0}, 60, kAll},
      {"csum_start at u16 max", {kHdrFNeedsCsum, 0, 0, 0, 0xffff, 0xffff, 0}, 60, kAll},
      {"UFO never offered", {kHdrFNeedsCsum, kGsoUdp, 0, 1400, 34, 6, 0}, 9000, kAll},
      {"ECN never offered", {kHdrFNeedsCsum, kGsoTcpv4 | kGsoEcn, 0, 1400, 34, 16, 0}, 9000, kAll},
      {"unknown gso type", {kHdrFNeedsCsum, 2, 0, 1400, 34, 16, 0}, 9000, kAll},
      {"gso_size 0", {kHdrFNeedsCsum, kGsoTcpv4, 0, 0, 34, 16, 0}, 9000, kAll},
      {"runt frame", {}, 13, kAll},
      {"empty frame", {}, 0, kAll},
      {"frame over 64 KiB", {}, kMaxFrameBytes + 1, kAll},
  };
  for (const BadCase& c : cases) {
    ChainBuilder b;
    b.Readable(Join(HeaderBytes(c.hdr), Frame(c.frame)));
    auto f = ParseTxChain(b.chain(), c.features);
    EXPECT_FALSE(f) << c.name;
    if (!f) {
      EXPECT_FALSE(f.error().message.empty());
    }
  }
}

TEST(NetHeaderTest, ChainShapesAreChecked) {
  {
    ChainBuilder b;  // shorter than the header
    b.Readable({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    EXPECT_FALSE(ParseTxChain(b.chain(), kAll));
  }
  {
    ChainBuilder b;  // a device-writable buffer on the TX queue
    b.Readable(Join(HeaderBytes({}), Frame(60))).Writable(16);
    EXPECT_FALSE(ParseTxChain(b.chain(), kAll));
  }
  {
    ChainBuilder b;  // nothing at all
    EXPECT_FALSE(ParseTxChain(b.chain(), kAll));
  }
}

TEST(NetHeaderTest, RxHeaderFollowsNegotiatedFeatures) {
  VirtioNetHdr tap{};
  tap.flags = kHdrFDataValid;
  tap.num_buffers = 77;  // whatever was in the buffer: the tap does not write it
  auto plain = SanitizeRxHeader(tap, Bit(kFeatureVersion1));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->flags, 0);  // 5.1.6.4.1: no GUEST_CSUM, flags zero
  EXPECT_EQ(plain->num_buffers, 1);
  auto csum = SanitizeRxHeader(tap, kAll);
  ASSERT_TRUE(csum);
  EXPECT_EQ(csum->flags, kHdrFDataValid);

  tap.flags = kHdrFNeedsCsum;
  EXPECT_FALSE(SanitizeRxHeader(tap, Bit(kFeatureVersion1)));
  tap.gso_type = kGsoTcpv4;
  tap.gso_size = 1448;
  EXPECT_TRUE(SanitizeRxHeader(tap, kAll));
  EXPECT_FALSE(SanitizeRxHeader(tap, kAll & ~Bit(kNetFGuestTso4)));
  tap.gso_type = kGsoUdp;
  EXPECT_FALSE(SanitizeRxHeader(tap, kAll));
}

}  // namespace
}  // namespace uvm::devices::virtio::net
