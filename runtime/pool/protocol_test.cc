#include "runtime/pool/protocol.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"

namespace uvm::runtime {
namespace {

TemplateShape Shape() {
  TemplateShape s;
  s.kernel = "/k/vmlinux";
  s.initrd = "/k/agent.cpio.gz";
  s.memory_mib = 256;
  s.cpus = 2;
  s.image_disk = "/var/lib/uvm/disks/ab.ext4";
  s.image_name = "busybox";
  return s;
}

std::string StripNewline(std::string s) {
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(s.back(), '\n');
  s.pop_back();
  EXPECT_EQ(s.find('\n'), std::string::npos);
  return s;
}

TEST(PoolProtocolTest, ClaimRoundTrips) {
  PoolRequest r;
  r.op = PoolOp::kClaim;
  r.key = "0123456789abcdef";
  r.shape = Shape();
  auto back = ParsePoolRequest(StripNewline(EncodePoolRequest(r)));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->op, PoolOp::kClaim);
  EXPECT_EQ(back->key, r.key);
  EXPECT_EQ(back->shape.kernel, "/k/vmlinux");
  EXPECT_EQ(back->shape.initrd, "/k/agent.cpio.gz");
  EXPECT_EQ(back->shape.memory_mib, 256u);
  EXPECT_EQ(back->shape.cpus, 2);
  EXPECT_FALSE(back->shape.net);
  EXPECT_EQ(back->shape.image_disk, "/var/lib/uvm/disks/ab.ext4");
  EXPECT_EQ(back->shape.image_name, "busybox");
  EXPECT_TRUE(back->shares.empty());
}

TEST(PoolProtocolTest, AClaimCarriesOneDirectoryPerShare) {
  PoolRequest r;
  r.op = PoolOp::kClaim;
  r.key = "0123456789abcdef";
  r.shape = Shape();
  r.shape.shares = 2;
  r.shares = {{.host_dir = "/srv/a"}, {.host_dir = "/srv/b", .read_only = true}};
  auto back = ParsePoolRequest(StripNewline(EncodePoolRequest(r)));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->shares.size(), 2u);
  EXPECT_EQ(back->shares[1].host_dir, "/srv/b");
  EXPECT_TRUE(back->shares[1].read_only);
  EXPECT_FALSE(back->shares[0].read_only);
  r.shares.pop_back();  // fewer directories than the shape has shares
  EXPECT_FALSE(ParsePoolRequest(StripNewline(EncodePoolRequest(r))));
  r.shares = {{.host_dir = "relative"}, {.host_dir = "/b"}};
  EXPECT_FALSE(ParsePoolRequest(StripNewline(EncodePoolRequest(r))));
}

TEST(PoolProtocolTest, StatusAndStopRoundTrip) {
  for (PoolOp op : {PoolOp::kStatus, PoolOp::kStop}) {
    auto back = ParsePoolRequest(StripNewline(EncodePoolRequest(PoolRequest{op, {}, {}, {}})));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->op, op);
  }
}

TEST(PoolProtocolTest, MalformedRequestsAreRefusedWithAReason) {
  const std::string shape = R"("shape":{"kernel":"/k","initrd":"/i","memory_mib":256,"cpus":1})";
  ASSERT_TRUE(ParsePoolRequest(R"({"op":"claim","key":"0123456789abcdef",)" + shape + "}"));
  for (
      const std::string& bad : std::vector<std::string>{
          std::string(""),
          std::string("[]"),
          std::string("{\"op\":"),
          std::string(R"({"op":"launch"})"),
          std::string(R"({"op":7})"),
          std::string(R"({"op":"claim","key":"0123456789abcdef"})"),  // no shape
          R"({"op":"claim","key":"0123456789ABCDEF",)" + shape + "}",
          R"({"op":"claim","key":"0123",)" + shape + "}",
          std::string(
              R"({"op":"claim","key":"0123456789abcdef","shape":{"kernel":"k","initrd":"/i","memory_mib":256,"cpus":1}})"),
          std::string(
              R"({"op":"claim","key":"0123456789abcdef","shape":{"kernel":"/k","initrd":"/i","memory_mib":1,"cpus":1}})"),
          std::string(
              R"({"op":"claim","key":"0123456789abcdef","shape":{"kernel":"/k","initrd":"/i","memory_mib":256,"cpus":0}})"),
          std::string(
              R"({"op":"claim","key":"0123456789abcdef","shape":{"kernel":"/k","initrd":"/i","memory_mib":256,"cpus":17}})"),
          std::string(
              R"({"op":"claim","key":"0123456789abcdef","shape":{"kernel":"/k","initrd":"/i","memory_mib":-5,"cpus":1}})"),
          std::string(
              R"({"op":"claim","key":"0123456789abcdef","shape":{"kernel":"/k","initrd":"/i","memory_mib":256,"cpus":1,"net":"yes"}})"),
          std::string(
              R"({"op":"claim","key":"0123456789abcdef","shape":{"kernel":"/k\u0000x","initrd":"/i","memory_mib":256,"cpus":1}})"),
          std::string(
              R"({"op":"claim","key":"0123456789abcdef","shape":{"kernel":"/k","initrd":"/i","memory_mib":256,"cpus":1,"image_disk":"rel"}})"),
      }) {
    auto r = ParsePoolRequest(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_FALSE(r.error().message.empty()) << bad;
    }
  }
}

TEST(PoolProtocolTest, ClaimRepliesSayYesOrWhyNot) {
  PoolClaimReply yes;
  yes.ok = true;
  yes.vm = "pool-vm-abc123";
  yes.vsock_uds = "/run/uvm/pool-vm-abc123/vsock.sock";
  auto back = ParseClaimReply(StripNewline(EncodeClaimReply(yes)));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->ok);
  EXPECT_EQ(back->vm, yes.vm);
  EXPECT_EQ(back->vsock_uds, yes.vsock_uds);

  auto no = ParseClaimReply(StripNewline(EncodeFailure("no VM ready")));
  ASSERT_TRUE(no);
  EXPECT_FALSE(no->ok);
  EXPECT_EQ(no->why, "no VM ready");

  EXPECT_FALSE(ParseClaimReply(R"({"ok":true,"vm":"x","vsock_uds":"relative"})"));
  EXPECT_FALSE(ParseClaimReply(R"({"vm":"x"})"));
  EXPECT_FALSE(ParseClaimReply("garbage"));
}

TEST(PoolProtocolTest, StatusRoundTripsAndAFailureIsAnError) {
  PoolStatus st;
  st.pid = 4242;
  st.size = 2;
  PoolShapeStatus s;
  s.key = "0123456789abcdef";
  s.image = "busybox";
  s.memory_mib = 256;
  s.cpus = 1;
  s.ready = 2;
  s.in_use = 1;
  s.served = 7;
  s.missed = 1;
  s.error = "";
  st.shapes.push_back(s);
  auto back = ParsePoolStatus(StripNewline(EncodePoolStatus(st)));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->pid, 4242);
  EXPECT_EQ(back->size, 2);
  ASSERT_EQ(back->shapes.size(), 1u);
  EXPECT_EQ(back->shapes[0].key, s.key);
  EXPECT_EQ(back->shapes[0].image, "busybox");
  EXPECT_EQ(back->shapes[0].ready, 2);
  EXPECT_EQ(back->shapes[0].in_use, 1);
  EXPECT_EQ(back->shapes[0].served, 7u);
  EXPECT_EQ(back->shapes[0].missed, 1u);

  auto failed = ParsePoolStatus(StripNewline(EncodeFailure("bad request: x")));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "bad request: x");
  EXPECT_FALSE(ParsePoolStatus(R"({"ok":true,"pid":1,"size":2,"shapes":[7]})"));
}

TEST(PoolProtocolTest, LinesAreReadWholeAndBounded) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  ASSERT_TRUE(WritePoolLine(a.get(), "first\nsecond"));
  auto first = ReadPoolLine(b.get(), 1000);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "first");
  // "second" has no newline yet: the wait runs out.
  auto partial = ReadPoolLine(b.get(), 50);
  EXPECT_FALSE(partial);

  // A line that never ends within the limit is refused, not buffered without bound.
  std::thread writer([&] { (void)WritePoolLine(a.get(), std::string(kMaxPoolLine + 10, 'x')); });
  auto huge = ReadPoolLine(b.get(), 5000);
  writer.join();
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message.find("64 KiB"), std::string::npos);

  a.Reset();
  auto eof = ReadPoolLine(b.get(), 1000);
  ASSERT_FALSE(eof);
  EXPECT_NE(eof.error().message.find("closed"), std::string::npos);
}

}  // namespace
}  // namespace uvm::runtime
