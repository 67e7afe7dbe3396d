// MmioTransport::SaveState / RestoreState: a restored transport carries on where the saved one
// was, and every state a driver could not have produced is refused without changing anything.
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <string>

#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/testing/echo_device.h"
#include "devices/virtio/testing/fake_driver.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio {
namespace {

using testing::EchoDevice;
using testing::FakeDriver;
using testing::FakeRam;
using testing::InitMmioDevice;
using testing::MmioRead32;
using testing::MmioWrite32;

constexpr uint64_t kFeatures = Bit(0) | Bit(kFeatureVersion1) | Bit(kFeatureEventIdx);

class MmioStateTest : public ::testing::Test {
 protected:
  // Initializes the first transport and has queue 1 answer one request.
  MmioTransportState Used() {
    std::array<FakeDriver*, 2> qs = {&q0_, &q1_};
    EXPECT_TRUE(InitMmioDevice(old_, kFeatures, qs) & kStatusDriverOk);
    EXPECT_EQ(Echo(old_), 0x42);
    return old_.SaveState();
  }
  // Posts a one-byte writable buffer on queue 1, kicks `t` and returns what came back.
  int Echo(MmioTransport& t) {
    uint64_t buf = q1_.Alloc(1);
    uint16_t head = q1_.Post({{buf, 1, true}});
    MmioWrite32(t, mmio::kQueueNotify, 1);
    auto used = q1_.PopUsed();
    if (!used || used->id != head) return -1;
    return ram_.host(buf)[0];
  }

  FakeRam ram_{1 << 20};
  FakeDriver q0_{ram_.mem(), 8, 0x1000, 0x10000};
  FakeDriver q1_{ram_.mem(), 8, 0x2000, 0x40000};
  std::shared_ptr<EchoDevice> old_dev_ = std::make_shared<EchoDevice>();
  MmioTransport old_{ram_.mem(), old_dev_, nullptr};
  std::shared_ptr<EchoDevice> dev_ = std::make_shared<EchoDevice>();
  int irqs_ = 0;
  MmioTransport t_{ram_.mem(), dev_, [this] { ++irqs_; }};
};

TEST_F(MmioStateTest, UntouchedTransportRoundTrips) {
  MmioTransportState s = old_.SaveState();
  EXPECT_EQ(s.device_type, kDeviceIdBlock);
  ASSERT_EQ(s.queues.size(), 2u);
  EXPECT_EQ(s.queues[0].size, 8);
  ASSERT_TRUE(t_.RestoreState(s));
  EXPECT_EQ(t_.SaveState(), s);
  EXPECT_EQ(dev_->activations, 0);
}

TEST_F(MmioStateTest, RestoredTransportKeepsProcessingRequests) {
  MmioTransportState s = Used();
  EXPECT_TRUE(s.activated);
  EXPECT_EQ(s.negotiated, kFeatures);
  EXPECT_EQ(s.queues[1].next_used, 1);
  EXPECT_TRUE(s.queues[1].event_idx);

  auto r = t_.RestoreState(s);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(t_.SaveState(), s);
  // Re-activated as at DRIVER_OK, with the negotiated features, without a spurious interrupt.
  EXPECT_EQ(dev_->activations, 1);
  EXPECT_EQ(dev_->features, kFeatures);
  EXPECT_EQ(irqs_, 0);
  EXPECT_EQ(MmioRead32(t_, mmio::kStatus),
            kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  // The driver carries on: the next request is taken from avail slot 1, answered in used slot 1.
  EXPECT_EQ(Echo(t_), 0x42);
  EXPECT_EQ(q1_.UsedIdx(), 2);
  EXPECT_EQ(irqs_, 1);
  // And a reset works as on any transport.
  MmioWrite32(t_, mmio::kStatus, 0);
  EXPECT_EQ(MmioRead32(t_, mmio::kStatus), 0u);
}

TEST_F(MmioStateTest, MidInitializationStateLetsTheDriverFinish) {
  MmioWrite32(old_, mmio::kStatus, kStatusAcknowledge);
  MmioWrite32(old_, mmio::kStatus, kStatusAcknowledge | kStatusDriver);
  MmioWrite32(old_, mmio::kQueueSel, 1);
  MmioWrite32(old_, mmio::kQueueNum, 4);
  ASSERT_TRUE(t_.RestoreState(old_.SaveState()));
  EXPECT_EQ(MmioRead32(t_, mmio::kQueueNumMax), 8u);  // queue 1 still selected
  std::array<FakeDriver*, 2> qs = {&q0_, &q1_};
  EXPECT_TRUE(InitMmioDevice(t_, kFeatures, qs) & kStatusDriverOk);
  EXPECT_EQ(dev_->activations, 1);
}

TEST_F(MmioStateTest, GarbageInQueueRegistersTheDriverMayStillChangeIsAccepted) {
  // A queue that is not ready may hold any addresses: the driver can write them, Enable() checks.
  MmioTransportState s = Used();
  s.queues[0].ready = false;
  s.queues[0].desc_addr = 0xdead00000001ull;
  s.device_features_sel = 77;
  s.queue_sel = 1000;
  EXPECT_TRUE(t_.RestoreState(s));
}

TEST_F(MmioStateTest, FailedActivationIsReturnedAndNeedsReset) {
  MmioTransportState s = Used();
  dev_->fail_activate = true;
  auto r = t_.RestoreState(s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no backend"), std::string::npos);
  EXPECT_TRUE(t_.status() & kStatusNeedsReset);
}

TEST_F(MmioStateTest, QuiesceReachesOnlyAnActivatedDevice) {
  ASSERT_TRUE(old_.Quiesce());
  EXPECT_EQ(old_dev_->quiesces, 0);  // nothing handed out, nothing to take back
  Used();
  ASSERT_TRUE(old_.Quiesce());
  EXPECT_EQ(old_dev_->quiesces, 1);
  old_dev_->fail_quiesce = true;
  auto r = old_.Quiesce();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("quiescing for a snapshot: stuck"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(old_.status() & kStatusNeedsReset);  // the guest did nothing wrong
}

// A chain the template's driver published and kicked for, taken by no device before the snapshot:
// the kick is not in the snapshot, so the restored transport serves it on NotifyAllQueues().
TEST_F(MmioStateTest, NotifyAllQueuesServesChainsPublishedBeforeTheSnapshot) {
  Used();
  const uint64_t buf = q1_.Alloc(1);
  const uint16_t head = q1_.Post({{buf, 1, true}});  // published, kick lost
  ASSERT_TRUE(t_.RestoreState(old_.SaveState()));
  EXPECT_FALSE(q1_.PopUsed());
  t_.NotifyAllQueues();
  auto used = q1_.PopUsed();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->id, head);
  EXPECT_EQ(ram_.host(buf)[0], 0x42);
  EXPECT_GE(irqs_, 1);
}

struct Hostile {
  const char* name;
  std::function<void(MmioTransportState&)> mutate;
  const char* error;
};

class MmioStateRefuses : public MmioStateTest, public ::testing::WithParamInterface<Hostile> {};

TEST_P(MmioStateRefuses, AndChangesNothing) {
  MmioTransportState s = Used();
  const MmioTransportState fresh = t_.SaveState();
  GetParam().mutate(s);
  auto r = t_.RestoreState(s);
  ASSERT_FALSE(r) << GetParam().name;
  EXPECT_NE(r.error().message.find(GetParam().error), std::string::npos) << r.error().message;
  EXPECT_EQ(t_.SaveState(), fresh);
  EXPECT_EQ(dev_->activations, 0);
}

QueueState& Q(MmioTransportState& s) { return s.queues[1]; }

const Hostile kHostile[] = {
    {"other device type", [](auto& s) { s.device_type = kDeviceIdVsock; }, "device type 19"},
    {"feature not offered",
     [](auto& s) {
       s.driver_features |= Bit(5);
       s.negotiated |= Bit(5);
     },
     "does not offer"},
    {"device status bit", [](auto& s) { s.status |= kStatusNeedsReset; }, "no driver can set"},
    {"DRIVER_OK without FEATURES_OK", [](auto& s) { s.status &= ~kStatusFeaturesOk; }, "3.1.1"},
    {"DRIVER without ACKNOWLEDGE", [](auto& s) { s.status &= ~kStatusAcknowledge; }, "3.1.1"},
    {"negotiated differs from written", [](auto& s) { s.driver_features &= ~Bit(0); },
     "FEATURES_OK accepts"},
    {"no VERSION_1",
     [](auto& s) {
       s.driver_features &= ~Bit(kFeatureVersion1);
       s.negotiated = s.driver_features;
     },
     "FEATURES_OK accepts"},
    {"features beyond 64", [](auto& s) { s.driver_features_beyond_64 = true; },
     "FEATURES_OK accepts"},
    {"negotiated before FEATURES_OK",
     [](auto& s) {
       s.status = kStatusAcknowledge | kStatusDriver;
       s.activated = false;
     },
     "without FEATURES_OK"},
    {"activated without DRIVER_OK",
     [](auto& s) { s.status = kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk; },
     "activated without DRIVER_OK"},
    {"DRIVER_OK not activated", [](auto& s) { s.activated = false; }, "not activated"},
    {"interrupt bits", [](auto& s) { s.interrupt_status = 4; }, "interrupt status"},
    {"missing queue", [](auto& s) { s.queues.pop_back(); }, "1 queues, the device has 2"},
    {"maximum size differs",
     [](auto& s) {
       for (auto& q : s.queues) q.max_size = q.size = 4;
     },
     "maximum size differs"},
    {"maximum size not a power of two", [](auto& s) { Q(s).max_size = 6; }, "maximum size 6"},
    {"size not a power of two", [](auto& s) { Q(s).size = 6; }, "size 6 is not a power of two"},
    {"size above maximum", [](auto& s) { Q(s).size = 16; }, "size 16 is not a power of two"},
    {"size zero", [](auto& s) { Q(s).size = 0; }, "size 0"},
    {"ring outside RAM", [](auto& s) { Q(s).desc_addr = 1ull << 40; }, "outside guest RAM"},
    {"ring at the end of RAM", [](auto& s) { Q(s).used_addr = (1 << 20) - 8; },
     "outside guest RAM"},
    {"misaligned ring", [](auto& s) { Q(s).avail_addr += 1; }, "misaligned"},
    {"used index ahead", [](auto& s) { Q(s).next_used = 2; }, "used index 2"},
    {"available index too far ahead", [](auto& s) { Q(s).next_avail = 10; }, "used index 1"},
    {"indices on an unready queue", [](auto& s) { Q(s).ready = false; }, "never used"},
    {"ring features not negotiated", [](auto& s) { Q(s).event_idx = false; }, "ring features"},
    {"indirect not negotiated", [](auto& s) { Q(s).indirect = true; }, "ring features"},
};

INSTANTIATE_TEST_SUITE_P(All, MmioStateRefuses, ::testing::ValuesIn(kHostile),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace uvm::devices::virtio
