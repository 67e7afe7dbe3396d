#include "devices/virtio/fs/fuse_request.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace uvm::devices::virtio::fs {
namespace {

// A chain of readable buffers cut from `bytes` at `cuts`.
struct TestChain {
  TestChain(std::vector<uint8_t> data, std::vector<size_t> cuts) : bytes(std::move(data)) {
    size_t at = 0;
    cuts.push_back(bytes.size());
    for (size_t cut : cuts) {
      chain.readable.push_back({0x1000 + at, bytes.data() + at, static_cast<uint32_t>(cut - at)});
      at = cut;
    }
  }
  std::vector<uint8_t> bytes;
  Chain chain;
};

std::vector<uint8_t> Request(uint32_t opcode, const std::vector<uint8_t>& args, int32_t extra = 0) {
  fuse_in_header h{};
  h.len = static_cast<uint32_t>(sizeof(h) + args.size() + extra);
  h.opcode = opcode;
  h.unique = 42;
  h.nodeid = 7;
  std::vector<uint8_t> out(sizeof(h));
  std::memcpy(out.data(), &h, sizeof(h));
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

TEST(FuseRequest, ParsesHeaderAndArgumentsAcrossBuffers) {
  TestChain t(Request(FUSE_LOOKUP, {'a', 'b', 0}), {3, 41});
  auto r = ParseFuseRequest(t.chain, 4096);
  ASSERT_TRUE(r.request);
  EXPECT_EQ(r.request->header.unique, 42u);
  EXPECT_EQ(r.request->header.nodeid, 7u);
  ArgReader args(r.request->args);
  EXPECT_EQ(args.Name(), "ab");
  EXPECT_EQ(args.remaining(), 0u);
}

TEST(FuseRequest, ShortAndLyingHeaders) {
  TestChain none(std::vector<uint8_t>(10), {});
  auto r = ParseFuseRequest(none.chain, 4096);
  EXPECT_FALSE(r.request);
  EXPECT_EQ(r.failure, ParseFailure::kNoHeader);
  TestChain past(Request(FUSE_LOOKUP, {'a', 0}, 100), {});
  r = ParseFuseRequest(past.chain, 4096);
  EXPECT_EQ(r.failure, ParseFailure::kMalformed);
  EXPECT_EQ(r.unique, 42u);
  TestChain shorter(Request(FUSE_LOOKUP, {'a', 0}, -10), {});
  EXPECT_EQ(ParseFuseRequest(shorter.chain, 4096).failure, ParseFailure::kMalformed);
}

TEST(FuseRequest, BytesPastTheLengthAreIgnored) {
  auto bytes = Request(FUSE_LOOKUP, {'a', 0});
  bytes.insert(bytes.end(), {'z', 'z', 'z'});
  TestChain t(bytes, {});
  auto r = ParseFuseRequest(t.chain, 4096);
  ASSERT_TRUE(r.request);
  EXPECT_EQ(r.request->args.size(), 2u);
}

TEST(FuseRequest, WriteDataStaysInTheChain) {
  fuse_write_in w{};
  w.size = 6;
  std::vector<uint8_t> args(sizeof(w));
  std::memcpy(args.data(), &w, sizeof(w));
  args.insert(args.end(), {'h', 'e', 'l', 'l', 'o', '!'});
  TestChain t(Request(FUSE_WRITE, args), {sizeof(fuse_in_header) + sizeof(w) + 2});
  auto r = ParseFuseRequest(t.chain, 4096);
  ASSERT_TRUE(r.request);
  EXPECT_EQ(r.request->args.size(), sizeof(w));
  EXPECT_EQ(r.request->write_bytes, 6u);
  ASSERT_EQ(r.request->write_data.size(), 2u);  // split where the buffers are
  EXPECT_EQ(r.request->write_data[0].size(), 2u);
  EXPECT_EQ(r.request->write_data[0].data(), t.bytes.data() + sizeof(fuse_in_header) + sizeof(w));
  // The size must be the data's, and within max_write.
  EXPECT_EQ(ParseFuseRequest(t.chain, 5).failure, ParseFailure::kTooBig);
  w.size = 7;
  std::memcpy(t.bytes.data() + sizeof(fuse_in_header), &w, sizeof(w));
  EXPECT_EQ(ParseFuseRequest(t.chain, 4096).failure, ParseFailure::kMalformed);
}

TEST(FuseRequest, ArgumentsAreBounded) {
  TestChain t(Request(FUSE_SETXATTR, std::vector<uint8_t>(kMaxArgBytes + 1)), {});
  EXPECT_EQ(ParseFuseRequest(t.chain, 4096).failure, ParseFailure::kTooBig);
}

TEST(ArgReader, StructsStringsAndNames) {
  std::vector<uint8_t> bytes = {1, 0, 0, 0, 'x', 0, 'a', '/', 'b', 0, 0, 'n', 'o'};
  ArgReader args(bytes);
  EXPECT_EQ(args.Struct<uint32_t>(), 1u);
  EXPECT_EQ(args.Name(), "x");
  EXPECT_FALSE(args.Name());    // "a/b": a slash
  EXPECT_FALSE(args.Name());    // "": empty
  EXPECT_FALSE(args.String());  // "no": no NUL
  EXPECT_FALSE(args.Struct<uint64_t>());
  EXPECT_EQ(args.Bytes(2)->size(), 2u);
  EXPECT_FALSE(args.Bytes(1));
  EXPECT_TRUE(IsEntryName(std::string(NAME_MAX, 'a')));
  EXPECT_FALSE(IsEntryName(std::string(NAME_MAX + 1, 'a')));
}

TEST(ArgReader, StructPrefixZeroesTheRest) {
  std::vector<uint8_t> bytes(16, 0xff);
  ArgReader args(bytes);
  auto in = args.StructPrefix<fuse_init_in>(16);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->flags2, 0u);
  EXPECT_FALSE(ArgReader(bytes).StructPrefix<fuse_init_in>(17));
}

}  // namespace
}  // namespace uvm::devices::virtio::fs
