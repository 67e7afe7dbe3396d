#include "devices/virtio/block/request.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "devices/virtio/testing/chain_builder.h"

namespace uvm::devices::virtio::block {
namespace {

constexpr DiskGeometry kDisk{.capacity_sectors = 64, .read_only = false};
constexpr DiskGeometry kRoDisk{.capacity_sectors = 64, .read_only = true};

using testing::ChainBuilder;

std::vector<uint8_t> Header(uint32_t type, uint64_t sector) {
  BlockRequestHeader h{type, 0, sector};
  std::vector<uint8_t> v(sizeof h);
  std::memcpy(v.data(), &h, sizeof h);
  return v;
}

std::vector<uint8_t> Slice(const std::vector<uint8_t>& v, size_t from, size_t to) {
  return std::vector<uint8_t>(v.begin() + from, v.begin() + to);
}

BlockRequest ParseOk(const Chain& chain, const DiskGeometry& g = kDisk) {
  auto r = ParseRequest(chain, g);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? std::move(*r) : BlockRequest{};
}

void ExpectStatus(const BlockRequest& r, uint8_t status) {
  EXPECT_EQ(r.op, BlockOp::kComplete);
  EXPECT_EQ(r.status_value, status);
  EXPECT_TRUE(r.data.empty());
}

TEST(ParseRequestTest, ReadUsesWritableBuffersBeforeTheStatus) {
  ChainBuilder b;
  b.Readable(Header(kBlkTIn, 3)).Writable(512).Writable(512).Writable(1);
  BlockRequest r = ParseOk(b.chain());
  EXPECT_EQ(r.op, BlockOp::kRead);
  EXPECT_EQ(r.offset, 3 * 512u);
  EXPECT_EQ(r.data_len, 1024u);
  ASSERT_EQ(r.data.size(), 2u);
  EXPECT_EQ(r.data[0].data(), b.writable(0));
  EXPECT_EQ(r.data[1].data(), b.writable(1));
  EXPECT_EQ(r.status, b.writable(2));
  EXPECT_EQ(ToIovecs(r).size(), 2u);
}

TEST(ParseRequestTest, WriteUsesReadableBuffersAfterTheHeader) {
  ChainBuilder b;
  b.Readable(Header(kBlkTOut, 63)).Readable(std::vector<uint8_t>(512, 7)).Writable(1);
  BlockRequest r = ParseOk(b.chain());
  EXPECT_EQ(r.op, BlockOp::kWrite);
  EXPECT_EQ(r.offset, 63 * 512u);  // the last sector
  ASSERT_EQ(r.data.size(), 1u);
  EXPECT_EQ(r.data[0].data(), b.readable(1));
  EXPECT_EQ(r.status, b.writable(0));
}

TEST(ParseRequestTest, HeaderSplitAcrossBuffersAndSharingOneWithData) {
  auto h = Header(kBlkTOut, 5);
  std::vector<uint8_t> tail = Slice(h, 3, 16);
  tail.resize(13 + 512, 9);  // the rest of the header, then the data, in one buffer
  ChainBuilder b;
  b.Readable(Slice(h, 0, 3)).Readable(tail).Writable(1);
  BlockRequest r = ParseOk(b.chain());
  EXPECT_EQ(r.op, BlockOp::kWrite);
  EXPECT_EQ(r.sector, 5u);
  ASSERT_EQ(r.data.size(), 1u);
  EXPECT_EQ(r.data[0].data(), b.readable(1) + 13);
  EXPECT_EQ(r.data[0].size(), 512u);
}

TEST(ParseRequestTest, ShortOrMissingHeaderIsIoErr) {
  ChainBuilder b;
  b.Readable(Slice(Header(kBlkTIn, 0), 0, 15)).Writable(512).Writable(1);
  ExpectStatus(ParseOk(b.chain()), kBlkSIoErr);
  ChainBuilder none;
  none.Writable(513);
  ExpectStatus(ParseOk(none.chain()), kBlkSIoErr);
}

TEST(ParseRequestTest, ZeroLengthTransferCompletesWithoutIo) {
  ChainBuilder b;
  b.Readable(Header(kBlkTIn, 64)).Writable(1);  // sector == capacity, 0 bytes: in range
  ExpectStatus(ParseOk(b.chain()), kBlkSOk);
  ChainBuilder past;
  past.Readable(Header(kBlkTOut, 65)).Writable(1);
  ExpectStatus(ParseOk(past.chain()), kBlkSIoErr);
}

TEST(ParseRequestTest, LengthNotAMultipleOf512IsIoErr) {
  ChainBuilder in;
  in.Readable(Header(kBlkTIn, 0)).Writable(513).Writable(1);
  ExpectStatus(ParseOk(in.chain()), kBlkSIoErr);
  ChainBuilder out;
  out.Readable(Header(kBlkTOut, 0)).Readable(std::vector<uint8_t>(100)).Writable(1);
  ExpectStatus(ParseOk(out.chain()), kBlkSIoErr);
}

TEST(ParseRequestTest, TransferPastCapacityIsIoErr) {
  ChainBuilder at_end;
  at_end.Readable(Header(kBlkTIn, 64)).Writable(512).Writable(1);
  ExpectStatus(ParseOk(at_end.chain()), kBlkSIoErr);
  ChainBuilder straddle;
  straddle.Readable(Header(kBlkTIn, 63)).Writable(1024).Writable(1);
  ExpectStatus(ParseOk(straddle.chain()), kBlkSIoErr);
}

TEST(ParseRequestTest, SectorWhoseByteOffsetOverflowsIsIoErr) {
  const DiskGeometry huge{.capacity_sectors = ~0ull, .read_only = false};
  // 2^55 * 512 wraps to 0; ~0 * 512 wraps to -512; kMaxSectors + 1 sectors pass 2^63.
  for (uint64_t sector : {uint64_t{1} << 55, ~uint64_t{0}, ~uint64_t{0} >> 9, kMaxSectors}) {
    ChainBuilder b;
    b.Readable(Header(kBlkTIn, sector)).Writable(512).Writable(1);
    ExpectStatus(ParseOk(b.chain(), huge), kBlkSIoErr);
  }
  // The last sector whose end still fits in off_t is accepted, with the exact offset.
  ChainBuilder b;
  b.Readable(Header(kBlkTIn, kMaxSectors - 1)).Writable(512).Writable(1);
  BlockRequest r = ParseOk(b.chain(), huge);
  EXPECT_EQ(r.op, BlockOp::kRead);
  EXPECT_EQ(r.offset, (kMaxSectors - 1) << 9);
  EXPECT_LE(r.offset + r.data_len, 0x7fffffffffffffffull);
}

TEST(ParseRequestTest, ReadOnlyDiskRefusesWritesOnly) {
  ChainBuilder w;
  w.Readable(Header(kBlkTOut, 0)).Readable(std::vector<uint8_t>(512)).Writable(1);
  ExpectStatus(ParseOk(w.chain(), kRoDisk), kBlkSIoErr);
  ChainBuilder r;
  r.Readable(Header(kBlkTIn, 0)).Writable(512).Writable(1);
  EXPECT_EQ(ParseOk(r.chain(), kRoDisk).op, BlockOp::kRead);
  ChainBuilder f;
  f.Readable(Header(kBlkTFlush, 0)).Writable(1);
  EXPECT_EQ(ParseOk(f.chain(), kRoDisk).op, BlockOp::kFlush);
}

TEST(ParseRequestTest, NoWritableByteIsAnError) {
  ChainBuilder b;
  b.Readable(Header(kBlkTFlush, 0));
  EXPECT_FALSE(ParseRequest(b.chain(), kDisk));
  ChainBuilder empty;
  empty.Readable(Header(kBlkTIn, 0)).Writable(0).Writable(0);
  EXPECT_FALSE(ParseRequest(empty.chain(), kDisk));
  EXPECT_FALSE(ParseRequest(Chain{}, kDisk));
}

TEST(ParseRequestTest, StatusByteMaySitAtTheEndOfADataBuffer) {
  ChainBuilder b;
  b.Readable(Header(kBlkTIn, 0)).Writable(513).Writable(0);
  BlockRequest r = ParseOk(b.chain());
  EXPECT_EQ(r.op, BlockOp::kRead);
  ASSERT_EQ(r.data.size(), 1u);
  EXPECT_EQ(r.data[0].data(), b.writable(0));
  EXPECT_EQ(r.data[0].size(), 512u);
  EXPECT_EQ(r.status, b.writable(0) + 512);
}

TEST(ParseRequestTest, ExtraBytesOnTheOtherSideAreIgnored) {
  ChainBuilder out;  // writable bytes before the status of a write
  out.Readable(Header(kBlkTOut, 0)).Readable(std::vector<uint8_t>(512)).Writable(8).Writable(1);
  BlockRequest w = ParseOk(out.chain());
  EXPECT_EQ(w.op, BlockOp::kWrite);
  EXPECT_EQ(w.status, out.writable(1));
  ChainBuilder in;  // readable bytes after the header of a read
  in.Readable(Header(kBlkTIn, 0)).Readable(std::vector<uint8_t>(64)).Writable(513);
  EXPECT_EQ(ParseOk(in.chain()).data_len, 512u);
}

TEST(ParseRequestTest, UnknownTypesAreUnsupported) {
  for (uint32_t type : {2u, 3u, 10u, 11u, 13u, 14u, 0x80000000u, ~0u}) {
    ChainBuilder b;
    b.Readable(Header(type, 0)).Writable(1);
    ExpectStatus(ParseOk(b.chain()), kBlkSUnsupp);
  }
}

TEST(ParseRequestTest, FlushIgnoresTheSector) {
  ChainBuilder b;
  b.Readable(Header(kBlkTFlush, ~0ull)).Writable(1);
  EXPECT_EQ(ParseOk(b.chain()).op, BlockOp::kFlush);
}

TEST(ParseRequestTest, GetIdFillsTwentyBytesAcrossBuffers) {
  ChainBuilder b;
  b.Readable(Header(kBlkTGetId, 0)).Writable(7).Writable(14);  // 20 id bytes + status
  BlockRequest r = ParseOk(b.chain());
  ASSERT_EQ(r.op, BlockOp::kGetId);
  EXPECT_EQ(r.data_len, 20u);
  const std::string id = "uvm-abc";
  FillGetId(r, std::span(reinterpret_cast<const uint8_t*>(id.data()), id.size()));
  EXPECT_EQ(std::memcmp(b.writable(0), "uvm-abc", 7), 0);
  for (int i = 0; i < 13; ++i) EXPECT_EQ(b.writable(1)[i], 0) << i;  // zero padding
  EXPECT_EQ(CompleteRequest(r, kBlkSOk), 21u);
  EXPECT_EQ(b.writable(1)[13], kBlkSOk);
}

TEST(ParseRequestTest, GetIdWithSmallBufferIsIoErr) {
  ChainBuilder b;
  b.Readable(Header(kBlkTGetId, 0)).Writable(10).Writable(1);
  ExpectStatus(ParseOk(b.chain()), kBlkSIoErr);
}

TEST(ParseRequestTest, CompleteRequestWritesStatusAndCountsOnlyDeliveredData) {
  ChainBuilder b;
  b.Readable(Header(kBlkTIn, 0)).Writable(1024).Writable(1);
  BlockRequest r = ParseOk(b.chain());
  EXPECT_EQ(CompleteRequest(r, kBlkSOk), 1025u);
  EXPECT_EQ(*b.writable(1), kBlkSOk);
  EXPECT_EQ(CompleteRequest(r, kBlkSIoErr), 1u);
  EXPECT_EQ(*b.writable(1), kBlkSIoErr);
  ChainBuilder w;
  w.Readable(Header(kBlkTOut, 0)).Readable(std::vector<uint8_t>(512)).Writable(1);
  EXPECT_EQ(CompleteRequest(ParseOk(w.chain()), kBlkSOk), 1u);
}

}  // namespace
}  // namespace uvm::devices::virtio::block
