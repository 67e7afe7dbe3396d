// VsockDevice across a snapshot: Quiesce() gives the held RX chain back so a restored device (a
// clone) uses exactly that buffer next, and SendTransportReset() on a restored device tells the
// guest its connections are gone (5.10.6.7), at once or when the driver posts an event buffer.
#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/vsock/vsock_device.h"
#include "devices/virtio/vsock/vsock_device_fixture.h"

namespace uvm::devices::virtio::vsock {
namespace {

class VsockSnapshotTest : public VsockDeviceTest {
 protected:
  MmioTransportState QuiesceAndSave() {
    auto r = t_->Quiesce();
    EXPECT_TRUE(r) << r.error().message;
    return t_->SaveState();
  }
  // The template goes away (its sockets close) and a new device on the same guest RAM takes
  // `saved`, as a clone does.
  void RestoreClone(const MmioTransportState& saved) {
    t_.reset();
    dev_.reset();
    auto dev = VsockDevice::Create(kCid, uds_, *loop_);
    ASSERT_TRUE(dev) << dev.error().message;
    dev_ = *dev;
    t_ = std::make_unique<MmioTransport>(ram_.mem(), dev_, [this] { ++irqs_; });
    auto r = t_->RestoreState(saved);
    ASSERT_TRUE(r) << r.error().message;
  }
  // Has the device hold an RX chain. The guest's window is 5 bytes: "hello" fills it, and when
  // the guest acknowledges it the device, its stream reopened, takes one more chain to read the
  // socket (at least a byte, to see an end of file), finds it empty and keeps the chain.
  // Returns the head of that chain.
  uint16_t HoldSpareRxChain() {
    constexpr uint32_t kGuestPort = 5000;
    constexpr uint32_t kWindow = 5;
    UniqueFd client;
    const uint32_t hp = HostConnect(client, kGuestPort);
    Tx(Op::kCreditUpdate, kGuestPort, hp, "", 0, /*fwd_cnt=*/0, kWindow);
    WriteAll(client.get(), "hello");
    RxPacket rw = Rx();
    EXPECT_EQ(rw.hdr.src_port, hp);
    EXPECT_EQ(rw.payload, "hello");
    Tx(Op::kCreditUpdate, kGuestPort, hp, "", 0, /*fwd_cnt=*/kWindow, kWindow);
    const QueueState rx = t_->SaveState().queues[VsockDevice::kRxQueue];
    EXPECT_EQ(static_cast<uint16_t>(rx.next_avail - rx.next_used), 1) << "no spare RX chain";
    held_client_ = std::move(client);
    return rx_posted_.at(static_cast<uint16_t>(rx.next_avail - 1));
  }

  UniqueFd held_client_;
};

TEST_F(VsockSnapshotTest, SpareRxChainGoesBackAndTheCloneUsesItFirst) {
  const uint16_t spare = HoldSpareRxChain();
  const uint16_t next_avail = t_->SaveState().queues[VsockDevice::kRxQueue].next_avail;
  const MmioTransportState saved = QuiesceAndSave();
  EXPECT_EQ(saved.queues[VsockDevice::kRxQueue].next_avail, static_cast<uint16_t>(next_avail - 1));
  EXPECT_EQ(saved.queues[VsockDevice::kRxQueue].next_used, static_cast<uint16_t>(next_avail - 1));

  RestoreClone(saved);
  dev_->SendTransportReset();
  // A host client of the clone: the guest's REQUEST lands in the buffer the template gave back.
  UniqueFd client = ConnectTo(uds_);
  WriteAll(client.get(), "CONNECT 6000\n");
  std::optional<virtio::testing::UsedElem> used;
  ASSERT_TRUE(PumpUntil([&] { return (used = rx_.PopUsed()).has_value(); }));
  EXPECT_EQ(used->id, spare);
  VsockHeader h;
  auto bytes = rx_.ReadBytes(rx_bufs_.at(spare), sizeof h);
  std::memcpy(&h, bytes.data(), sizeof h);
  EXPECT_EQ(h.op, static_cast<uint16_t>(Op::kRequest));
  EXPECT_EQ(h.dst_port, 6000u);
}

// The template may resume after the snapshot: the chain it gave back is taken again.
TEST_F(VsockSnapshotTest, QuiescedDeviceStillDelivers) {
  const uint16_t spare = HoldSpareRxChain();
  QuiesceAndSave();
  WriteAll(held_client_.get(), "again");
  std::optional<virtio::testing::UsedElem> used;
  ASSERT_TRUE(PumpUntil([&] { return (used = rx_.PopUsed()).has_value(); }));
  EXPECT_EQ(used->id, spare);
  EXPECT_EQ(used->len, sizeof(VsockHeader) + 5);
}

// The event buffer the guest's driver posted before the snapshot (Linux keeps the event queue
// filled) is in the restored ring: the reset event is delivered at once.
TEST_F(VsockSnapshotTest, TransportResetOnARestoredDeviceUsesThePostedEventBuffer) {
  const uint64_t ev = ev_.Alloc(4);
  const uint8_t junk[4] = {0xff, 0xff, 0xff, 0xff};
  ev_.WriteBytes(ev, junk);
  const uint16_t head = ev_.Post({{ev, 4, true}});
  Kick(VsockDevice::kEventQueue);
  EXPECT_FALSE(ev_.PopUsed().has_value());
  RestoreClone(QuiesceAndSave());
  const int irqs_before = irqs_;
  dev_->SendTransportReset();
  auto used = ev_.PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->id, head);
  EXPECT_EQ(used->len, 4u);
  EXPECT_EQ(ev_.ReadBytes(ev, 4),
            std::vector<uint8_t>(4, 0));  // VIRTIO_VSOCK_EVENT_TRANSPORT_RESET
  EXPECT_GT(irqs_, irqs_before);
}

// No event buffer in the restored ring: the event waits for the driver's next one.
TEST_F(VsockSnapshotTest, TransportResetOnARestoredDeviceWaitsForAnEventBuffer) {
  RestoreClone(QuiesceAndSave());
  dev_->SendTransportReset();
  EXPECT_FALSE(ev_.PopUsed().has_value());
  const uint64_t ev = PostEventBuffer();
  auto used = ev_.PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->len, 4u);
  EXPECT_EQ(ev_.ReadBytes(ev, 4), std::vector<uint8_t>(4, 0));
}

}  // namespace
}  // namespace uvm::devices::virtio::vsock
