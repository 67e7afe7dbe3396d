// The virtio-net device against a fake driver and a socketpair backend (net_device_fixture.h).
#include "devices/virtio/net/net_device.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "base/unique_fd.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/net/net_device_fixture.h"
#include "devices/virtio/net/net_header.h"
#include "devices/virtio/testing/fake_driver.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::net {
namespace {

TEST_F(NetDeviceTest, OffersOffloadsAndShowsMacAndLink) {
  EXPECT_EQ(MmioRead32(*t_, mmio::kDeviceId), kDeviceIdNet);
  const uint64_t offered = t_->offered_features();
  for (unsigned bit : {kNetFCsum, kNetFGuestCsum, kNetFMac, kNetFGuestTso4, kNetFGuestTso6,
                       kNetFHostTso4, kNetFHostTso6, kNetFStatus, kFeatureVersion1}) {
    EXPECT_TRUE(offered & Bit(bit)) << bit;
  }
  EXPECT_FALSE(offered & Bit(kNetFHostUfo));
  EXPECT_FALSE(offered & Bit(kNetFHostEcn));
  std::array<uint8_t, 8> config{};
  for (size_t i = 0; i < config.size(); ++i) {
    uint8_t b[1] = {};
    t_->Read(mmio::kConfig + i, b);
    config[i] = b[0];
  }
  EXPECT_EQ(std::memcmp(config.data(), kMac.data(), 6), 0);
  EXPECT_EQ(config[6], kNetSLinkUp);
  EXPECT_EQ(config[7], 0);
}

TEST_F(NetDeviceTest, ActivationSetsBackendOffloadsAndResetClearsThem) {
  ASSERT_EQ(Init(), kOk);
  EXPECT_EQ(offloads_, kDriverFeatures);
  EXPECT_EQ(dev_->backend_interest(), uint32_t{EPOLLIN});
  MmioWrite32(*t_, mmio::kStatus, 0);
  EXPECT_EQ(offloads_, 0u);
  EXPECT_EQ(dev_->backend_interest(), 0u);
}

TEST_F(NetDeviceTest, TxFramesReachTheBackendWithTheirHeader) {
  ASSERT_EQ(Init(), kOk);
  VirtioNetHdr h{};
  h.flags = kHdrFNeedsCsum;
  h.csum_start = 34;
  h.csum_offset = 16;
  PostTx(h, Frame(1514, 1));
  PostTx({}, Frame(60, 2));
  Kick(NetDevice::kTxQueue);
  auto first = HostRecv();
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, WithHeader(h, Frame(1514, 1)));
  auto second = HostRecv();
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, WithHeader({}, Frame(60, 2)));
  for (int i = 0; i < 2; ++i) {
    auto used = tx_.PopUsed();
    ASSERT_TRUE(used);
    EXPECT_EQ(used->len, 0u);
  }
  EXPECT_EQ(dev_->stats().tx_frames, 2u);
  EXPECT_GT(irqs_, 0);
}

TEST_F(NetDeviceTest, HostileTxPacketsAreDroppedAndTheDeviceGoesOn) {
  ASSERT_EQ(Init(), kOk);
  VirtioNetHdr rx_only{};
  rx_only.flags = kHdrFDataValid;
  PostTx(rx_only, Frame(60, 1));
  VirtioNetHdr csum_outside{};
  csum_outside.flags = kHdrFNeedsCsum;
  csum_outside.csum_start = 0xfff0;
  PostTx(csum_outside, Frame(60, 1));
  VirtioNetHdr tso6{};  // HOST_TSO6 offered but not negotiated by this driver
  tso6.flags = kHdrFNeedsCsum;
  tso6.gso_type = kGsoTcpv6;
  tso6.gso_size = 1400;
  tso6.csum_start = 54;
  tso6.csum_offset = 16;
  PostTx(tso6, Frame(9000, 1));
  PostTx({}, Frame(10, 1));  // runt
  const uint64_t only_hdr = tx_.Alloc(kHdr);
  tx_.Post({{only_hdr, kHdr, false}});  // no frame
  const uint64_t w = tx_.Alloc(100);
  tx_.Post({{w, 100, true}});  // device-writable TX buffer
  PostTx({}, Frame(64, 9));    // a good one after all that
  Kick(NetDevice::kTxQueue);
  for (int i = 0; i < 7; ++i) {
    auto used = tx_.PopUsed();
    ASSERT_TRUE(used) << i;
    EXPECT_EQ(used->len, 0u);
  }
  auto got = HostRecv();
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, WithHeader({}, Frame(64, 9)));
  EXPECT_FALSE(HostRecv());  // nothing else reached the host
  EXPECT_EQ(dev_->stats().tx_dropped, 6u);
  EXPECT_EQ(dev_->stats().tx_frames, 1u);
  EXPECT_FALSE(NeedsReset());
}

TEST_F(NetDeviceTest, BrokenTxRingNeedsReset) {
  ASSERT_EQ(Init(), kOk);
  tx_.SetDesc(0, (8 << 20) - 4, 64, 0, 0);  // runs past the end of guest RAM
  tx_.Publish(0);
  Kick(NetDevice::kTxQueue);
  EXPECT_TRUE(NeedsReset());
  EXPECT_FALSE(HostRecv());
  EXPECT_EQ(dev_->backend_interest(), 0u);
}

TEST_F(NetDeviceTest, BrokenRxRingNeedsResetWhenAFrameArrives) {
  ASSERT_EQ(Init(), kOk);
  rx_.SetAvailRing(0, 200);  // head index past the queue size
  rx_.SetAvailIdx(1);
  HostSend(WithHeader({}, Frame(60, 1)));
  Pump();
  EXPECT_TRUE(NeedsReset());
  EXPECT_EQ(dev_->backend_interest(), 0u);
}

TEST_F(NetDeviceTest, OffloadsWithoutTheirChecksumFeatureFailActivation) {
  // 5.1.3.1: HOST_TSO4 needs CSUM. The transport accepts the bits (both offered); the device
  // refuses at DRIVER_OK.
  const uint32_t status = Init(Bit(kFeatureVersion1) | Bit(kNetFHostTso4));
  EXPECT_TRUE(status & kStatusNeedsReset);
  EXPECT_EQ(dev_->backend_interest(), 0u);
}

TEST_F(NetDeviceTest, RxFramesReachTheDriverWithNumBuffersOne) {
  ASSERT_EQ(Init(), kOk);
  PostRx(kHdr + 1514);
  PostRx(kHdr + 1514);
  Kick(NetDevice::kRxQueue);
  VirtioNetHdr h{};
  h.flags = kHdrFDataValid;
  HostSend(WithHeader(h, Frame(1514, 3)));
  HostSend(WithHeader({}, Frame(42, 4)));
  Pump();
  for (auto [len, seed] : {std::pair<size_t, uint8_t>{1514, 3}, {42, 4}}) {
    auto used = rx_.PopUsed();
    ASSERT_TRUE(used);
    EXPECT_EQ(used->len, kHdr + len);
    auto bytes = rx_.ReadBytes(rx_bufs_.at(static_cast<uint16_t>(used->id)), used->len);
    VirtioNetHdr got;
    std::memcpy(&got, bytes.data(), kHdr);
    EXPECT_EQ(got.num_buffers, 1);
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + kHdr, bytes.end()), Frame(len, seed));
  }
  EXPECT_EQ(dev_->stats().rx_frames, 2u);
}

// A chain that holds the largest frame (Linux's GSO "big packets" buffers: the header, then
// pages) is read into directly: the frame lands intact, the header is still sanitized, and a
// frame too large for any driver is still seen as truncated and dropped.
TEST_F(NetDeviceTest, BigRxChainTakesFramesDirectlyWithASanitizedHeader) {
  ASSERT_EQ(Init(), kOk);
  const uint64_t hdr_addr = rx_.Alloc(kHdr);
  const uint64_t a = rx_.Alloc(40000), b = rx_.Alloc(40000);
  const uint16_t head = rx_.Post({{hdr_addr, kHdr, true}, {a, 40000, true}, {b, 40000, true}});
  Kick(NetDevice::kRxQueue);
  HostSend(WithHeader({}, Frame(kMaxFrameBytes + 1, 9)));  // larger than any frame
  VirtioNetHdr h{};
  h.flags = kHdrFDataValid | 0x80;  // an unknown flag the driver must not see
  h.num_buffers = 7;
  HostSend(WithHeader(h, Frame(60000, 5)));
  Pump();
  auto used = rx_.PopUsed();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->id, head);
  EXPECT_EQ(used->len, kHdr + 60000);
  VirtioNetHdr got;
  auto hdr_bytes = rx_.ReadBytes(hdr_addr, kHdr);
  std::memcpy(&got, hdr_bytes.data(), kHdr);
  EXPECT_EQ(got.flags, kHdrFDataValid);
  EXPECT_EQ(got.num_buffers, 1);
  auto data = rx_.ReadBytes(a, 40000);
  auto rest = rx_.ReadBytes(b, 20000);
  data.insert(data.end(), rest.begin(), rest.end());
  EXPECT_EQ(data, Frame(60000, 5));
  EXPECT_FALSE(rx_.PopUsed());
  EXPECT_EQ(dev_->stats().rx_frames, 1u);
  EXPECT_EQ(dev_->stats().rx_dropped, 1u);
}

// ---- MRG_RXBUF (5.1.6.4): a frame spans as many small buffers as it needs ----

TEST_F(MergeableNetDeviceTest, ALargeFrameSpansSmallBuffersAndSmallOnesTakeOne) {
  ASSERT_EQ(Init(kMergeable), kOk);
  for (int i = 0; i < 9; ++i) PostRx(8192);  // 72 KiB held: read straight into guest memory
  Kick(NetDevice::kRxQueue);
  VirtioNetHdr h{};
  h.flags = kHdrFDataValid | 0x80;  // an unknown flag the driver must not see
  h.num_buffers = 99;               // the tap's value is never passed on
  HostSend(WithHeader(h, Frame(20000, 1)));
  HostSend(WithHeader({}, Frame(60, 2)));
  Pump();
  auto big = NextPacket();
  ASSERT_TRUE(big);
  EXPECT_EQ(big->buffers, 3u);  // 8192 + 8192 + the rest of 20012 bytes
  EXPECT_EQ(big->hdr.flags, kHdrFDataValid);
  EXPECT_EQ(big->frame, Frame(20000, 1));
  auto small = NextPacket();
  ASSERT_TRUE(small);
  EXPECT_EQ(small->buffers, 1u);
  EXPECT_EQ(small->frame, Frame(60, 2));
  EXPECT_FALSE(rx_.PopUsed());
  EXPECT_EQ(dev_->stats().rx_frames, 2u);
}

// Fewer buffers than a frame needs: the frame waits in the device (not dropped, not reordered)
// until the driver posts more, and the backend is not polled meanwhile.
TEST_F(MergeableNetDeviceTest, AFrameWaitsForEnoughBuffers) {
  ASSERT_EQ(Init(kMergeable), kOk);
  PostRx(2048);
  Kick(NetDevice::kRxQueue);
  HostSend(WithHeader({}, Frame(5000, 3)));
  HostSend(WithHeader({}, Frame(100, 4)));
  Pump(2);
  EXPECT_FALSE(rx_.PopUsed());
  EXPECT_EQ(dev_->backend_interest(), 0u);
  for (int i = 0; i < 3; ++i) PostRx(2048);
  Kick(NetDevice::kRxQueue);
  Pump(2);
  auto first = NextPacket();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->buffers, 3u);
  EXPECT_EQ(first->frame, Frame(5000, 3));
  auto second = NextPacket();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->frame, Frame(100, 4));
  EXPECT_EQ(dev_->stats().rx_dropped, 0u);
}

// Hostile buffers: one smaller than the header goes back empty; a truncated (oversized) frame is
// dropped and the buffers serve the next one.
TEST_F(MergeableNetDeviceTest, TinyBuffersAndOversizedFramesAreRefused) {
  ASSERT_EQ(Init(kMergeable), kOk);
  PostRx(4);
  for (int i = 0; i < 9; ++i) PostRx(8192);
  Kick(NetDevice::kRxQueue);
  HostSend(WithHeader({}, Frame(kMaxFrameBytes + 1, 5)));
  HostSend(WithHeader({}, Frame(1514, 6)));
  Pump();
  auto empty = rx_.PopUsed();
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->len, 0u);
  auto p = NextPacket();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->frame, Frame(1514, 6));
  EXPECT_EQ(dev_->stats().rx_dropped, 2u);
}

// A reset forgets the held buffers and a waiting frame; the device works again afterwards with
// the driver's new rings.
TEST_F(MergeableNetDeviceTest, ResetForgetsHeldBuffers) {
  ASSERT_EQ(Init(kMergeable), kOk);
  PostRx(2048);
  Kick(NetDevice::kRxQueue);
  HostSend(WithHeader({}, Frame(5000, 7)));
  Pump();
  MmioWrite32(*t_, mmio::kStatus, 0);
  FakeDriver rx2{ram_.mem(), 16, 0x5000, 0x600000}, tx2{ram_.mem(), 16, 0x7000, 0x700000};
  std::array<FakeDriver*, 2> qs = {&rx2, &tx2};
  ASSERT_EQ(InitMmioDevice(*t_, kMergeable, qs), kOk);
  const uint64_t buf = rx2.Alloc(4096);
  rx2.Post({{buf, 4096, true}});
  Kick(NetDevice::kRxQueue);
  HostSend(WithHeader({}, Frame(200, 8)));
  Pump();
  auto used = rx2.PopUsed();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->len, kHdr + 200);
  auto bytes = rx2.ReadBytes(buf, used->len);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + kHdr, bytes.end()), Frame(200, 8));
}

TEST_F(NetDeviceTest, NoRxBuffersStopsPollingUntilTheDriverPostsSome) {
  ASSERT_EQ(Init(), kOk);
  for (uint8_t i = 0; i < 3; ++i) HostSend(WithHeader({}, Frame(100, i)));
  Pump(3);
  // No buffer: the device looked once, found the ring empty and stopped polling for input.
  EXPECT_EQ(dev_->backend_interest(), 0u);
  EXPECT_FALSE(rx_.PopUsed());
  for (int i = 0; i < 4; ++i) PostRx(kHdr + 1514);
  Kick(NetDevice::kRxQueue);
  // One buffer is left over, so the device polls for input again.
  EXPECT_EQ(dev_->backend_interest(), uint32_t{EPOLLIN});
  for (uint8_t i = 0; i < 3; ++i) {
    auto used = rx_.PopUsed();
    ASSERT_TRUE(used) << int{i};
    auto bytes = rx_.ReadBytes(rx_bufs_.at(static_cast<uint16_t>(used->id)) + kHdr, 100);
    EXPECT_EQ(bytes, Frame(100, i));
  }
  EXPECT_EQ(dev_->stats().rx_dropped, 0u);
}

TEST_F(NetDeviceTest, RxFrameTooLargeForTheBufferIsDroppedAndTheBufferReused) {
  ASSERT_EQ(Init(Bit(kFeatureVersion1)), kOk);
  PostRx(kHdr + 1514);
  PostRx(10);  // smaller than any frame: returned empty
  Kick(NetDevice::kRxQueue);
  HostSend(WithHeader({}, Frame(4000, 1)));
  HostSend(WithHeader({}, Frame(60, 2)));
  Pump();
  auto used = rx_.PopUsed();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->len, kHdr + 60);
  used = rx_.PopUsed();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->len, 0u);
  EXPECT_EQ(dev_->stats().rx_dropped, 2u);  // the big frame and the tiny buffer
}

TEST_F(NetDeviceTest, RxHeaderTheDriverCannotTakeIsDropped) {
  ASSERT_EQ(Init(Bit(kFeatureVersion1)), kOk);  // no GUEST_CSUM, no GUEST_TSO
  PostRx(kHdr + 1514);
  Kick(NetDevice::kRxQueue);
  VirtioNetHdr gso{};
  gso.flags = kHdrFNeedsCsum;
  gso.gso_type = kGsoTcpv4;
  gso.gso_size = 1448;
  HostSend(WithHeader(gso, Frame(1000, 1)));
  VirtioNetHdr valid{};
  valid.flags = kHdrFDataValid;  // cleared for this driver
  HostSend(WithHeader(valid, Frame(60, 2)));
  Pump();
  auto used = rx_.PopUsed();
  ASSERT_TRUE(used);
  ASSERT_EQ(used->len, kHdr + 60);
  auto bytes = rx_.ReadBytes(rx_bufs_.at(static_cast<uint16_t>(used->id)), kHdr);
  EXPECT_EQ(bytes[0], 0);  // flags
  EXPECT_EQ(dev_->stats().rx_dropped, 1u);
}

TEST_F(NetDeviceTest, FullBackendKeepsTxChainsAndWaitsForRoom) {
  int small = 4096;
  ASSERT_EQ(::setsockopt(device_end_, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  ASSERT_EQ(Init(), kOk);
  constexpr int kFrames = 7;  // two descriptors each: fits the 16-entry ring
  for (int i = 0; i < kFrames; ++i) PostTx({}, Frame(1500, static_cast<uint8_t>(i)));
  Kick(NetDevice::kTxQueue);
  int returned = 0;
  while (tx_.PopUsed()) ++returned;
  ASSERT_LT(returned, kFrames) << "the socket took everything; the test needs a smaller buffer";
  EXPECT_EQ(dev_->backend_interest(), uint32_t{EPOLLIN | EPOLLOUT});
  Pump(3);  // no room yet: nothing changes, nothing spins
  EXPECT_FALSE(tx_.PopUsed());
  // The host reads; each round of the loop lets the device send more.
  const std::vector<std::vector<uint8_t>> got = HostRecvWhilePumping(kFrames, returned);
  ASSERT_EQ(got.size(), size_t{kFrames});
  for (int i = 0; i < kFrames; ++i) {
    EXPECT_EQ(got[i], WithHeader({}, Frame(1500, static_cast<uint8_t>(i)))) << i;  // in order
  }
  EXPECT_EQ(returned, kFrames);
  EXPECT_EQ(dev_->backend_interest(), uint32_t{EPOLLIN});
  EXPECT_EQ(dev_->stats().tx_dropped, 0u);
}

TEST_F(NetDeviceTest, ResetWhileATxChainWaitsForgetsIt) {
  int small = 4096;
  ASSERT_EQ(::setsockopt(device_end_, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  ASSERT_EQ(Init(), kOk);
  for (int i = 0; i < 7; ++i) PostTx({}, Frame(1500, 0));
  Kick(NetDevice::kTxQueue);
  ASSERT_TRUE(dev_->backend_interest() & EPOLLOUT);
  MmioWrite32(*t_, mmio::kStatus, 0);
  EXPECT_EQ(dev_->backend_interest(), 0u);
  while (HostRecv()) {
  }
  Pump(2);  // the device no longer touches the (reset) rings
  // And it comes back after a fresh initialization.
  FakeDriver rx2{ram_.mem(), 16, 0x5000, 0x600000};
  FakeDriver tx2{ram_.mem(), 16, 0x7000, 0x700000};
  std::array<FakeDriver*, 2> qs = {&rx2, &tx2};
  ASSERT_EQ(InitMmioDevice(*t_, kDriverFeatures, qs), kOk);
  const uint64_t a = tx2.Alloc(kHdr + 60);
  tx2.Post({{a, kHdr + 60, false}});
  Kick(NetDevice::kTxQueue);
  EXPECT_TRUE(tx2.PopUsed());
  auto m = HostRecv();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->size(), kHdr + 60);
}

TEST_F(NetDeviceTest, BackendGoneStopsPollingWithoutSpinning) {
  ASSERT_EQ(Init(), kOk);
  PostRx(kHdr + 1514);
  Kick(NetDevice::kRxQueue);
  host_ = UniqueFd();  // the peer closes: reads return 0
  Pump(2);
  EXPECT_EQ(dev_->backend_interest(), 0u);
  PostTx({}, Frame(60, 1));
  Kick(NetDevice::kTxQueue);
  auto used = tx_.PopUsed();
  ASSERT_TRUE(used);  // dropped, but returned to the driver
  EXPECT_EQ(dev_->stats().tx_dropped, 1u);
  EXPECT_FALSE(NeedsReset());
}

}  // namespace
}  // namespace uvm::devices::virtio::net
