// NetDevice::Quiesce before a snapshot: the chains the device took and did not use go back to the
// ring, so a device restored from the saved queue state (a clone) uses exactly those buffers, and
// the quiesced device itself (a template that resumes) carries on.
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <array>
#include <memory>
#include <vector>

#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/net/net_device.h"
#include "devices/virtio/net/net_device_fixture.h"

namespace uvm::devices::virtio::net {
namespace {

class NetSnapshotTest : public MergeableNetDeviceTest {
 protected:
  // Stops the template (its device is reset, as when the template VM goes away) and restores
  // `saved` into a new device with a new backend, on the same guest RAM.
  void RestoreClone(const MmioTransportState& saved) {
    t_.reset();
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    host_ = UniqueFd(sv[1]);
    auto dev = NetDevice::Create(std::make_unique<SocketBackend>(UniqueFd(sv[0]), &offloads_), kMac,
                                 *loop_);
    ASSERT_TRUE(dev) << dev.error().message;
    dev_ = *dev;
    t_ = std::make_unique<MmioTransport>(ram_.mem(), dev_, [this] { ++irqs_; });
    auto r = t_->RestoreState(saved);
    ASSERT_TRUE(r) << r.error().message;
  }
  MmioTransportState QuiesceAndSave() {
    auto r = t_->Quiesce();
    EXPECT_TRUE(r) << r.error().message;
    return t_->SaveState();
  }
};

TEST_F(NetSnapshotTest, SpareRxChainGoesBackAndTheCloneFillsIt) {
  ASSERT_EQ(Init(), kOk);
  const uint16_t first = PostRx(kHdr + 1514);
  PostRx(kHdr + 1514);
  Kick(NetDevice::kRxQueue);  // takes the first chain, finds no frame: the chain is held
  const MmioTransportState before = t_->SaveState();
  ASSERT_EQ(before.queues[NetDevice::kRxQueue].next_avail, 1);
  ASSERT_EQ(before.queues[NetDevice::kRxQueue].next_used, 0);

  const MmioTransportState saved = QuiesceAndSave();
  EXPECT_EQ(saved.queues[NetDevice::kRxQueue].next_avail, 0);
  EXPECT_EQ(saved.queues[NetDevice::kRxQueue].next_used, 0);

  RestoreClone(saved);
  HostSend(WithHeader({}, Frame(60, 1)));
  Pump();
  auto used = rx_.PopUsed();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->id, first);
  EXPECT_EQ(used->len, kHdr + 60);
  auto bytes = rx_.ReadBytes(rx_bufs_.at(first) + kHdr, 60);
  EXPECT_EQ(bytes, Frame(60, 1));
}

TEST_F(NetSnapshotTest, HeldMergeableBuffersGoBackInOrder) {
  ASSERT_EQ(Init(kMergeable), kOk);
  std::vector<uint16_t> heads;
  for (int i = 0; i < 3; ++i) heads.push_back(PostRx(2048));
  Kick(NetDevice::kRxQueue);  // all three held, waiting for a frame
  ASSERT_EQ(t_->SaveState().queues[NetDevice::kRxQueue].next_avail, 3);

  const MmioTransportState saved = QuiesceAndSave();
  EXPECT_EQ(saved.queues[NetDevice::kRxQueue].next_avail, 0);

  RestoreClone(saved);
  HostSend(WithHeader({}, Frame(3000, 2)));  // needs two of the 2 KiB buffers
  Pump();
  const uint16_t used_idx_before = rx_.UsedIdx();
  EXPECT_EQ(used_idx_before, 2);
  EXPECT_EQ(rx_.UsedAt(0).id, heads[0]);
  EXPECT_EQ(rx_.UsedAt(1).id, heads[1]);
  auto p = NextPacket();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->buffers, 2u);
  EXPECT_EQ(p->frame, Frame(3000, 2));
}

// The template itself may resume after the snapshot: given back, its RX chain is taken again for
// the next frame.
TEST_F(NetSnapshotTest, QuiescedDeviceStillReceives) {
  ASSERT_EQ(Init(), kOk);
  const uint16_t head = PostRx(kHdr + 1514);
  Kick(NetDevice::kRxQueue);
  QuiesceAndSave();
  EXPECT_EQ(dev_->backend_interest(), uint32_t{EPOLLIN});
  HostSend(WithHeader({}, Frame(80, 3)));
  Pump();
  auto used = rx_.PopUsed();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->id, head);
  EXPECT_EQ(used->len, kHdr + 80);
}

// A TX chain waiting for room in the backend goes back to the ring; once the backend has room the
// device takes it again, and every frame still arrives once, in order.
TEST_F(NetSnapshotTest, WaitingTxChainGoesBackAndIsSentWhenThereIsRoom) {
  int small = 4096;
  ASSERT_EQ(::setsockopt(device_end_, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  ASSERT_EQ(Init(), kOk);
  constexpr int kFrames = 7;
  for (int i = 0; i < kFrames; ++i) PostTx({}, Frame(1500, static_cast<uint8_t>(i)));
  Kick(NetDevice::kTxQueue);
  int returned = 0;
  while (tx_.PopUsed()) ++returned;
  ASSERT_LT(returned, kFrames) << "the socket took everything; the test needs a smaller buffer";
  const MmioTransportState before = t_->SaveState();
  ASSERT_EQ(static_cast<uint16_t>(before.queues[NetDevice::kTxQueue].next_avail -
                                  before.queues[NetDevice::kTxQueue].next_used),
            1);

  const MmioTransportState saved = QuiesceAndSave();
  EXPECT_EQ(saved.queues[NetDevice::kTxQueue].next_avail,
            saved.queues[NetDevice::kTxQueue].next_used);
  EXPECT_TRUE(dev_->backend_interest() & EPOLLOUT);  // still waiting for room

  const std::vector<std::vector<uint8_t>> got = HostRecvWhilePumping(kFrames, returned);
  ASSERT_EQ(got.size(), size_t{kFrames});
  for (int i = 0; i < kFrames; ++i) {
    EXPECT_EQ(got[i], WithHeader({}, Frame(1500, static_cast<uint8_t>(i)))) << i;
  }
  EXPECT_EQ(returned, kFrames);
  EXPECT_EQ(dev_->backend_interest(), uint32_t{EPOLLIN});
}

}  // namespace
}  // namespace uvm::devices::virtio::net
