// The device around the session: config space, the two queues, the work budget, reset and
// snapshots.
#include "devices/virtio/fs/fs_device.h"

#include "devices/virtio/fs/fs_test_fixture.h"

namespace uvm::devices::virtio::fs {
namespace {

using testing::Args;

class FsDeviceTest : public testing::FsFixture {};

TEST_F(FsDeviceTest, ConfigSpaceHoldsTheTagAndOneRequestQueue) {
  EXPECT_EQ(dev_->DeviceType(), 26u);
  EXPECT_EQ(dev_->NumQueues(), 2u);
  uint8_t bytes[40] = {};
  dev_->ReadConfig(0, bytes);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(bytes)), "share");
  uint32_t queues;
  std::memcpy(&queues, bytes + 36, 4);
  EXPECT_EQ(queues, 1u);
  uint8_t past[4] = {};
  dev_->ReadConfig(40, past);
  EXPECT_EQ(past[0], 0);
}

TEST_F(FsDeviceTest, TagsAreChecked) {
  EXPECT_EQ(CheckTag("data"), "");
  EXPECT_EQ(CheckTag(std::string(36, 't')), "");
  EXPECT_NE(CheckTag(""), "");
  EXPECT_NE(CheckTag(std::string(37, 't')), "");
  EXPECT_NE(CheckTag("a b"), "");
  EXPECT_NE(CheckTag("a,b"), "");
  auto bad = FsDevice::Create("a,b", ShareConfig{share_});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  auto missing = FsDevice::Create("t", ShareConfig{share_ + "/nope"});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
}

TEST_F(FsDeviceTest, AKickServesABudgetAndAsksForMore) {
  std::vector<size_t> requeued;
  dev_->SetRequeue([&](size_t q) { requeued.push_back(q); });
  ASSERT_EQ(Init().error(), 0);
  // More requests than one kick serves, all published before the kick.
  const size_t n = FsDevice::kChainsPerKick + 5;
  std::vector<uint64_t> outs;
  for (size_t i = 0; i < n; ++i) {
    fuse_in_header h{};
    fuse_getattr_in g{};
    h.len = sizeof(h) + sizeof(g);
    h.opcode = FUSE_GETATTR;
    h.unique = 1000 + i;
    h.nodeid = 1;
    std::vector<uint8_t> in(h.len);
    std::memcpy(in.data(), &h, sizeof(h));
    const uint64_t in_gpa = request_->Alloc(h.len);
    request_->WriteBytes(in_gpa, in);
    const uint64_t out_gpa = request_->Alloc(256);
    const uint16_t head = request_->AddChain(
        std::vector<virtio::testing::FakeBuffer>{{in_gpa, h.len, false}, {out_gpa, 256, true}});
    request_->Publish(head);
    outs.push_back(out_gpa);
  }
  const size_t posted = outs.size();
  ASSERT_GT(posted, FsDevice::kChainsPerKick);
  ASSERT_TRUE(dev_->ProcessQueue(FsDevice::kRequestQueue));
  size_t answered = 0;
  while (request_->PopUsed()) ++answered;
  EXPECT_EQ(answered, FsDevice::kChainsPerKick);
  EXPECT_EQ(requeued, std::vector<size_t>{FsDevice::kRequestQueue});
  ASSERT_TRUE(dev_->ProcessQueue(FsDevice::kRequestQueue));
  while (request_->PopUsed()) ++answered;
  EXPECT_EQ(answered, posted);
  EXPECT_EQ(requeued.size(), 1u);
  EXPECT_GT(irq_.used, 0);
}

TEST_F(FsDeviceTest, ResetForgetsTheSession) {
  ASSERT_EQ(Init().error(), 0);
  WriteHostFile(HostPath("f"), "");
  Lookup(1, "f");
  dev_->Reset();
  EXPECT_FALSE(dev_->session().initialized());
  EXPECT_EQ(dev_->session().nodes().size(), 1u);
  // Nothing is served between reset and the next activation.
  EXPECT_TRUE(dev_->ProcessQueue(FsDevice::kRequestQueue));
}

TEST_F(FsDeviceTest, AnUnmountedShareSnapshotsAMountedOneRefusesWithOneLine) {
  EXPECT_TRUE(dev_->Quiesce());
  ASSERT_EQ(Init().error(), 0);
  auto q = dev_->Quiesce();
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(q.error().message.find("'share' is mounted"), std::string::npos);
  EXPECT_EQ(q.error().message.find('\n'), std::string::npos);
}

TEST_F(FsDeviceTest, AnUnboundDeviceRefusesToMountAndSnapshots) {
  auto dev = FsDevice::Create("slot", ShareConfig{});
  ASSERT_TRUE(dev) << dev.error().message;
  dev_ = *dev;
  EXPECT_FALSE(dev_->bound());
  ASSERT_TRUE(dev_->Activate(ram_->mem(), 0, queues_, irq_));
  EXPECT_EQ(Init().error(), ENODEV);
  EXPECT_TRUE(dev_->Quiesce());
  // Bound while it runs (a pooled VM lent with a directory): the guest can now mount it.
  WriteHostFile(HostPath("f"), "bound");
  ASSERT_TRUE(dev_->Bind(ShareConfig{share_}));
  EXPECT_TRUE(dev_->bound());
  ASSERT_EQ(Init().error(), 0);
  EXPECT_EQ(Lookup(1, "f").attr.size, 5u);
  // Mounted: no rebinding under the guest's feet.
  auto again = dev_->Bind(ShareConfig{share_});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(dev_->Bind(ShareConfig{}));
  dev_->Reset();
}

TEST_F(FsDeviceTest, HiprioTakesOnlyForgets) {
  ASSERT_EQ(Init().error(), 0);
  WriteHostFile(HostPath("f"), "");
  const uint64_t id = Lookup(1, "f").nodeid;
  Forget(id, 1);
  EXPECT_EQ(dev_->session().nodes().size(), 1u);
  // A LOOKUP on the hiprio queue is dropped without an answer.
  EXPECT_EQ(Hiprio(Request(FUSE_LOOKUP, 1, Args().Name("f")), 128), 0u);
  EXPECT_EQ(dev_->session().nodes().size(), 1u);
}

}  // namespace
}  // namespace uvm::devices::virtio::fs
