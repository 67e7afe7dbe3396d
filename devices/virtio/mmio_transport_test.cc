#include "devices/virtio/mmio_transport.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <future>

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

constexpr uint64_t kDeviceFeature = Bit(0);
constexpr uint64_t kAll = kDeviceFeature | Bit(kFeatureVersion1);

class MmioTransportTest : public ::testing::Test {
 protected:
  uint32_t R(uint64_t off) { return MmioRead32(t_, off); }
  void W(uint64_t off, uint32_t v) { MmioWrite32(t_, off, v); }
  uint32_t Init(uint64_t features = kAll) {
    std::array<FakeDriver*, 2> qs = {&q0_, &q1_};
    return InitMmioDevice(t_, features, qs);
  }
  uint32_t Status() { return R(mmio::kStatus); }

  FakeRam ram_{1 << 20};
  FakeDriver q0_{ram_.mem(), 8, 0x1000, 0x10000};
  FakeDriver q1_{ram_.mem(), 8, 0x2000, 0x40000};
  // ACCESS_PLATFORM is offered but not implemented by the transport: it must be dropped.
  std::shared_ptr<EchoDevice> dev_ = std::make_shared<EchoDevice>(Bit(kFeatureAccessPlatform));
  int irqs_ = 0;
  MmioTransport t_{ram_.mem(), dev_, [this] { ++irqs_; }};
};

TEST_F(MmioTransportTest, IdentityRegisters) {
  EXPECT_EQ(R(mmio::kMagicValue), 0x74726976u);
  EXPECT_EQ(R(mmio::kVersion), 2u);
  EXPECT_EQ(R(mmio::kDeviceId), kDeviceIdBlock);
  EXPECT_NE(R(mmio::kVendorId), 0u);
}

TEST_F(MmioTransportTest, OfferedFeatures) {
  W(mmio::kDeviceFeaturesSel, 0);
  EXPECT_EQ(R(mmio::kDeviceFeatures), static_cast<uint32_t>(kDeviceFeature | Bit(kFeatureEventIdx) |
                                                            Bit(kFeatureIndirectDesc)));
  W(mmio::kDeviceFeaturesSel, 1);
  EXPECT_EQ(R(mmio::kDeviceFeatures), 1u);  // VERSION_1 only; ACCESS_PLATFORM dropped
  W(mmio::kDeviceFeaturesSel, 2);
  EXPECT_EQ(R(mmio::kDeviceFeatures), 0u);
}

TEST_F(MmioTransportTest, InitializesAndProcessesTraffic) {
  uint64_t feats = kAll | Bit(kFeatureIndirectDesc);
  ASSERT_EQ(Init(feats), kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  EXPECT_EQ(dev_->activations, 1);
  EXPECT_EQ(dev_->features, feats);
  ASSERT_EQ(dev_->queues.size(), 2u);
  EXPECT_TRUE(dev_->queues[0].state().indirect);
  EXPECT_FALSE(dev_->queues[0].state().event_idx);

  uint64_t buf = q1_.Alloc(4);
  uint16_t head = q1_.Post({{buf, 4, true}}, /*indirect=*/true);
  W(mmio::kQueueNotify, 1);
  auto used = q1_.PopUsed();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->id, head);
  EXPECT_EQ(used->len, 1u);
  EXPECT_EQ(ram_.host(buf)[0], 0x42);
  EXPECT_EQ(irqs_, 1);
  EXPECT_EQ(R(mmio::kInterruptStatus), mmio::kIntUsedBuffer);
  W(mmio::kInterruptAck, mmio::kIntUsedBuffer);
  EXPECT_EQ(R(mmio::kInterruptStatus), 0u);
}

// The driver's interrupt handler reads InterruptStatus and writes InterruptACK on every
// interrupt, on a vCPU thread, while the device thread that raised the interrupt may still be
// inside Notify() (a vsock TX pass reads a host socket and fills RX buffers there). Neither
// register waits for that thread.
TEST_F(MmioTransportTest, InterruptStatusAndAckDoNotWaitForAQueueBeingProcessed) {
  ASSERT_EQ(Init(), kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  std::future_status handler = std::future_status::deferred;
  uint32_t seen = 0;
  std::future<void> vcpu;  // outlives Notify(): a handler that blocked finishes after it
  dev_->after_processing = [&] {
    vcpu = std::async(std::launch::async, [&] {
      seen = R(mmio::kInterruptStatus);
      W(mmio::kInterruptAck, seen);
    });
    handler = vcpu.wait_for(std::chrono::seconds(5));
  };
  q1_.Post({{q1_.Alloc(4), 4, true}});
  W(mmio::kQueueNotify, 1);
  vcpu.wait();
  dev_->after_processing = nullptr;
  EXPECT_EQ(handler, std::future_status::ready) << "the vCPU waited for the device thread";
  EXPECT_EQ(seen, mmio::kIntUsedBuffer);
  EXPECT_EQ(R(mmio::kInterruptStatus), 0u);
}

TEST_F(MmioTransportTest, UnofferedFeatureRefused) {
  EXPECT_EQ(Init(kAll | Bit(5)), kStatusAcknowledge | kStatusDriver);
  EXPECT_EQ(dev_->activations, 0);
  // DRIVER_OK without FEATURES_OK is not taken either.
  W(mmio::kStatus, kStatusAcknowledge | kStatusDriver | kStatusDriverOk);
  EXPECT_FALSE(Status() & kStatusDriverOk);
}

TEST_F(MmioTransportTest, AccessPlatformNotOffered) {
  EXPECT_FALSE(Init(kAll | Bit(kFeatureAccessPlatform)) & kStatusFeaturesOk);
}

TEST_F(MmioTransportTest, FeatureBitsAbove64Refused) {
  W(mmio::kStatus, kStatusAcknowledge);
  W(mmio::kStatus, kStatusAcknowledge | kStatusDriver);
  W(mmio::kDriverFeaturesSel, 1);
  W(mmio::kDriverFeatures, 1);
  W(mmio::kDriverFeaturesSel, 2);
  W(mmio::kDriverFeatures, 1);
  W(mmio::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
  EXPECT_FALSE(Status() & kStatusFeaturesOk);
}

TEST_F(MmioTransportTest, Version1Required) {
  EXPECT_FALSE(Init(kDeviceFeature) & kStatusFeaturesOk);
}

TEST_F(MmioTransportTest, FeaturesFrozenAfterFeaturesOk) {
  ASSERT_TRUE(Init() & kStatusDriverOk);
  W(mmio::kDriverFeaturesSel, 0);
  W(mmio::kDriverFeatures, 0xffffffff);
  EXPECT_EQ(dev_->features, kAll);
  EXPECT_FALSE(Status() & kStatusNeedsReset);
}

TEST_F(MmioTransportTest, StatusBitsOnlyAddedInOrder) {
  W(mmio::kStatus, kStatusDriver);  // DRIVER before ACKNOWLEDGE
  EXPECT_EQ(Status(), 0u);
  W(mmio::kStatus, kStatusAcknowledge);
  W(mmio::kStatus, kStatusAcknowledge | kStatusDriver);
  W(mmio::kStatus, kStatusAcknowledge);  // clearing DRIVER: ignored
  EXPECT_EQ(Status(), kStatusAcknowledge | kStatusDriver);
  W(mmio::kStatus, kStatusAcknowledge | kStatusDriver | kStatusNeedsReset);  // device's bit
  EXPECT_EQ(Status(), kStatusAcknowledge | kStatusDriver);
}

TEST_F(MmioTransportTest, QueueRegisters) {
  W(mmio::kQueueSel, 0);
  EXPECT_EQ(R(mmio::kQueueNumMax), 8u);
  W(mmio::kQueueSel, 2);  // does not exist
  EXPECT_EQ(R(mmio::kQueueNumMax), 0u);
  EXPECT_EQ(R(mmio::kQueueReady), 0u);
  W(mmio::kQueueReady, 1);  // ignored, no crash
  W(mmio::kQueueNum, 4);
  W(mmio::kQueueSel, 0);
  ASSERT_TRUE(Init() & kStatusDriverOk);
  EXPECT_EQ(R(mmio::kQueueReady), 1u);
  EXPECT_EQ(dev_->queues[0].state().size, 8);
}

TEST_F(MmioTransportTest, QueueNumMustBePowerOfTwoWithinMax) {
  W(mmio::kQueueSel, 0);
  for (uint32_t bad : {0u, 3u, 6u, 16u, 0x10000u}) {
    W(mmio::kQueueNum, bad);
    EXPECT_EQ(dev_->queues.size(), 0u);
  }
  W(mmio::kQueueNum, 4);
  std::array<FakeDriver*, 2> none = {nullptr, nullptr};
  InitMmioDevice(t_, kAll, none);  // resets: QueueNum back to max
  W(mmio::kQueueNum, 3);
  W(mmio::kQueueDescLow, 0x1000);
  W(mmio::kQueueDriverLow, q0_.avail_addr());
  W(mmio::kQueueDeviceLow, q0_.used_addr());
  W(mmio::kQueueReady, 1);
  EXPECT_EQ(R(mmio::kQueueReady), 0u);  // DRIVER_OK was set: too late
}

TEST_F(MmioTransportTest, QueueRegistersFrozenWhileReady) {
  ASSERT_TRUE(Init() & kStatusDriverOk);
  W(mmio::kQueueSel, 0);
  W(mmio::kQueueNum, 2);
  W(mmio::kQueueDescLow, 0x80000);
  W(mmio::kQueueReady, 0);
  EXPECT_EQ(dev_->queues[0].state().size, 8);
  EXPECT_EQ(dev_->queues[0].state().desc_addr, q0_.desc_addr());
  EXPECT_TRUE(dev_->queues[0].state().ready);
}

TEST_F(MmioTransportTest, BadRingAlignmentNeedsReset) {
  W(mmio::kStatus, kStatusAcknowledge);
  W(mmio::kQueueSel, 0);
  W(mmio::kQueueDescLow, 0x1008);
  W(mmio::kQueueDriverLow, 0x2000);
  W(mmio::kQueueDeviceLow, 0x3000);
  W(mmio::kQueueReady, 1);
  EXPECT_EQ(R(mmio::kQueueReady), 0u);
  EXPECT_TRUE(Status() & kStatusNeedsReset);
  EXPECT_TRUE(R(mmio::kInterruptStatus) & mmio::kIntConfigChange);
  EXPECT_NE(t_.last_error().find("misaligned"), std::string::npos);
  W(mmio::kStatus, 0);
  EXPECT_EQ(Status(), 0u);
  EXPECT_EQ(R(mmio::kInterruptStatus), 0u);
}

TEST_F(MmioTransportTest, QueueErrorNeedsResetAndStopsProcessing) {
  ASSERT_TRUE(Init() & kStatusDriverOk);
  q0_.SetDesc(0, q0_.Alloc(4), 4, kDescFNext, 0);  // a loop
  q0_.Publish(0);
  W(mmio::kQueueNotify, 0);
  EXPECT_TRUE(Status() & kStatusNeedsReset);
  EXPECT_TRUE(R(mmio::kInterruptStatus) & mmio::kIntConfigChange);
  EXPECT_NE(t_.last_error().find("loops"), std::string::npos);
  // Good traffic on the other queue is not processed until reset.
  q1_.Post({{q1_.Alloc(4), 4, true}});
  W(mmio::kQueueNotify, 1);
  EXPECT_FALSE(q1_.PopUsed());
  // After a reset and a fresh initialization the device works again.
  W(mmio::kStatus, 0);
  EXPECT_EQ(dev_->resets, 1);
  EXPECT_FALSE(Status() & kStatusNeedsReset);
  FakeDriver q0(ram_.mem(), 8, 0x1000, 0x10000), q1(ram_.mem(), 8, 0x2000, 0x40000);
  std::array<FakeDriver*, 2> qs = {&q0, &q1};
  ASSERT_TRUE(InitMmioDevice(t_, kAll, qs) & kStatusDriverOk);
  q1.Post({{q1.Alloc(4), 4, true}});
  W(mmio::kQueueNotify, 1);
  EXPECT_TRUE(q1.PopUsed());
}

TEST_F(MmioTransportTest, FailedActivationNeedsReset) {
  dev_->fail_activate = true;
  EXPECT_TRUE(Init() & kStatusNeedsReset);
  W(mmio::kStatus, 0);
  EXPECT_EQ(dev_->resets, 1);
}

TEST_F(MmioTransportTest, NotifyForMissingOrUnreadyQueueIgnored) {
  std::array<FakeDriver*, 2> only0 = {&q0_, nullptr};
  ASSERT_TRUE(InitMmioDevice(t_, kAll, only0) & kStatusDriverOk);
  W(mmio::kQueueNotify, 1);
  W(mmio::kQueueNotify, 7);
  W(mmio::kQueueNotify, 0xffffffff);
  t_.Notify(12345);
  EXPECT_FALSE(Status() & kStatusNeedsReset);
}

TEST_F(MmioTransportTest, NotifyBeforeDriverOkIgnored) {
  W(mmio::kQueueNotify, 0);
  EXPECT_EQ(Status(), 0u);
}

TEST_F(MmioTransportTest, RegisterAccessWidths) {
  uint8_t b1[1] = {0xff}, b2[2] = {0xff, 0xff}, b8[8];
  std::fill(std::begin(b8), std::end(b8), 0xff);
  t_.Read(mmio::kMagicValue, b1);
  EXPECT_EQ(b1[0], 0);
  t_.Read(mmio::kMagicValue, b2);
  EXPECT_EQ(b2[0], 0);
  t_.Read(mmio::kMagicValue, b8);
  EXPECT_EQ(b8[0], 0);
  uint8_t four[4] = {};
  t_.Read(mmio::kMagicValue + 2, four);  // misaligned 32-bit
  EXPECT_EQ(four[0], 0);
  uint8_t ack[1] = {kStatusAcknowledge};
  t_.Write(mmio::kStatus, ack);  // 8-bit status write: ignored
  EXPECT_EQ(Status(), 0u);
  uint8_t w8[8] = {1, 0, 0, 0, 0, 0, 0, 0};
  t_.Write(mmio::kStatus, w8);
  EXPECT_EQ(Status(), 0u);
}

TEST_F(MmioTransportTest, ConfigSpaceAccess) {
  uint8_t b1[1], b2[2], b4[4], b8[8] = {};
  t_.Read(mmio::kConfig + 3, b1);
  EXPECT_EQ(b1[0], 4);
  t_.Read(mmio::kConfig + 2, b2);
  EXPECT_EQ(b2[1], 4);
  t_.Read(mmio::kConfig + 4, b4);
  EXPECT_EQ(b4[3], 8);
  t_.Read(mmio::kConfig + 6, b4);  // crosses the end of the device's 8 bytes
  EXPECT_EQ(b4[0], 0);             // misaligned for 32 bits: ignored
  t_.Read(mmio::kConfig + 8, b4);
  EXPECT_EQ(b4[0], 0);
  t_.Read(mmio::kConfig + 1, b2);  // misaligned 16-bit: zero
  EXPECT_EQ(b2[0], 0);
  t_.Read(mmio::kConfig, b8);  // 64-bit: ignored
  EXPECT_EQ(b8[0], 0);
  t_.Read(mmio::kWindowSize - 4, b4);  // last word of the window: fine
  EXPECT_EQ(b4[0], 0);
  t_.Read(0xffffffffffffff00ull, b4);  // far away: ignored
  uint8_t v = 0x99;
  t_.Write(mmio::kConfig + 7, std::span<const uint8_t>(&v, 1));
  EXPECT_EQ(dev_->config[7], 0x99);
}

TEST_F(MmioTransportTest, ConfigChangeBumpsGeneration) {
  uint32_t gen = R(mmio::kConfigGeneration);
  t_.SignalConfigChange();
  EXPECT_EQ(R(mmio::kConfigGeneration), gen + 1);
  EXPECT_TRUE(R(mmio::kInterruptStatus) & mmio::kIntConfigChange);
  EXPECT_EQ(irqs_, 1);
}

TEST_F(MmioTransportTest, ResetClearsStateAndResetsDevice) {
  ASSERT_TRUE(Init() & kStatusDriverOk);
  W(mmio::kStatus, 0);
  EXPECT_EQ(dev_->resets, 1);
  EXPECT_EQ(Status(), 0u);
  W(mmio::kQueueSel, 0);
  EXPECT_EQ(R(mmio::kQueueReady), 0u);
  ASSERT_TRUE(Init() & kStatusDriverOk);  // and it comes back
  EXPECT_EQ(dev_->activations, 2);
}

}  // namespace
}  // namespace uvm::devices::virtio
