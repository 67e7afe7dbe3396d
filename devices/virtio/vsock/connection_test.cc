#include "devices/virtio/vsock/connection.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "devices/virtio/vsock/test_chain.h"

namespace uvm::devices::virtio::vsock {
namespace {

constexpr uint64_t kGuestCid = 3;
constexpr uint32_t kHostPort = 5000;
constexpr uint32_t kGuestPort = 1234;
constexpr uint32_t kHostBuf = 1000;  // our credit to the guest

uint16_t O(Op op) { return static_cast<uint16_t>(op); }

// A guest packet; `data` backs the payload span and must outlive the packet's use.
VsockPacket Guest(Op op, uint32_t buf_alloc = 4096, uint32_t fwd_cnt = 0, uint32_t flags = 0,
                  std::string* data = nullptr) {
  VsockPacket p;
  p.hdr = testing::GuestStreamHeader(kGuestCid, kGuestPort, kHostPort, op);
  p.hdr.flags = flags;
  p.hdr.buf_alloc = buf_alloc;
  p.hdr.fwd_cnt = fwd_cnt;
  if (data != nullptr) {
    p.hdr.len = static_cast<uint32_t>(data->size());
    p.payload.emplace_back(reinterpret_cast<uint8_t*>(data->data()), data->size());
  }
  return p;
}

void ExpectHostHeader(const VsockHeader& h, Op op) {
  EXPECT_EQ(h.op, O(op));
  EXPECT_EQ(h.src_cid, kHostCid);
  EXPECT_EQ(h.dst_cid, kGuestCid);
  EXPECT_EQ(h.src_port, kHostPort);
  EXPECT_EQ(h.dst_port, kGuestPort);
  EXPECT_EQ(h.type, kTypeStream);
  EXPECT_EQ(h.buf_alloc, kHostBuf);
}

// A connection the guest opened, accepted by the host; the guest offers `guest_buf`.
Connection Established(uint32_t guest_buf = 4096) {
  Connection c(kGuestCid, kHostPort, kGuestPort, kHostBuf);
  Actions a = c.OnGuestPacket(Guest(Op::kRequest, guest_buf));
  EXPECT_TRUE(a.accept_requested);
  EXPECT_TRUE(c.Accept());
  return c;
}

TEST(VsockConnection, GuestInitiatedHandshake) {
  Connection c(kGuestCid, kHostPort, kGuestPort, kHostBuf);
  EXPECT_EQ(c.state(), ConnState::kIdle);
  Actions a = c.OnGuestPacket(Guest(Op::kRequest, 8192));
  EXPECT_TRUE(a.accept_requested);
  EXPECT_TRUE(a.replies.empty());
  EXPECT_EQ(c.state(), ConnState::kGuestConnecting);
  EXPECT_EQ(c.SendCredit(), 0u);  // not established yet
  auto resp = c.Accept();
  ASSERT_TRUE(resp);
  ExpectHostHeader(*resp, Op::kResponse);
  EXPECT_EQ(c.state(), ConnState::kEstablished);
  EXPECT_EQ(c.SendCredit(), 8192u);
  EXPECT_FALSE(c.Accept());
}

TEST(VsockConnection, GuestRequestRefused) {
  Connection c(kGuestCid, kHostPort, kGuestPort, kHostBuf);
  c.OnGuestPacket(Guest(Op::kRequest));
  auto rst = c.Refuse();
  ASSERT_TRUE(rst);
  ExpectHostHeader(*rst, Op::kRst);
  EXPECT_EQ(c.state(), ConnState::kClosed);
}

TEST(VsockConnection, GuestDataBeforeResponseIsReset) {
  Connection c(kGuestCid, kHostPort, kGuestPort, kHostBuf);
  c.OnGuestPacket(Guest(Op::kRequest));
  std::string d = "early";
  Actions a = c.OnGuestPacket(Guest(Op::kRw, 4096, 0, 0, &d));
  EXPECT_TRUE(a.closed);
  ASSERT_EQ(a.replies.size(), 1u);
  EXPECT_EQ(a.replies[0].op, O(Op::kRst));
  EXPECT_TRUE(a.deliver.empty());
}

TEST(VsockConnection, HostInitiatedHandshake) {
  Connection c(kGuestCid, kHostPort, kGuestPort, kHostBuf);
  auto req = c.Connect();
  ASSERT_TRUE(req);
  ExpectHostHeader(*req, Op::kRequest);
  EXPECT_EQ(c.state(), ConnState::kHostConnecting);
  EXPECT_FALSE(c.Connect());
  Actions a = c.OnGuestPacket(Guest(Op::kResponse, 2048));
  EXPECT_TRUE(a.connected);
  EXPECT_TRUE(a.credit_available);
  EXPECT_EQ(c.state(), ConnState::kEstablished);
  EXPECT_EQ(c.SendCredit(), 2048u);
}

TEST(VsockConnection, HostConnectRefusedByGuest) {
  Connection c(kGuestCid, kHostPort, kGuestPort, kHostBuf);
  ASSERT_TRUE(c.Connect());
  Actions a = c.OnGuestPacket(Guest(Op::kRst));
  EXPECT_TRUE(a.closed);
  EXPECT_FALSE(a.connected);
  EXPECT_TRUE(a.replies.empty());  // never answer RST
  EXPECT_EQ(c.state(), ConnState::kClosed);
}

TEST(VsockConnection, HostConnectAnsweredWithWrongOpIsReset) {
  Connection c(kGuestCid, kHostPort, kGuestPort, kHostBuf);
  ASSERT_TRUE(c.Connect());
  Actions a = c.OnGuestPacket(Guest(Op::kRequest));
  EXPECT_TRUE(a.closed);
  ASSERT_EQ(a.replies.size(), 1u);
  EXPECT_EQ(a.replies[0].op, O(Op::kRst));
}

TEST(VsockConnection, GuestToHostDataAndCreditUpdates) {
  Connection c = Established();
  std::string d(300, 'x');
  Actions a = c.OnGuestPacket(Guest(Op::kRw, 4096, 0, 0, &d));
  EXPECT_FALSE(a.closed);
  ASSERT_EQ(a.deliver.size(), 1u);
  EXPECT_EQ(a.deliver[0].size(), 300u);
  EXPECT_EQ(c.rx_cnt(), 300u);
  // Consuming less than half the buffer: no update yet.
  auto u = c.OnHostConsumed(300);
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->empty());
  a = c.OnGuestPacket(Guest(Op::kRw, 4096, 0, 0, &d));
  // Crossing half of kHostBuf (500) since the last advertised fwd_cnt (0): CREDIT_UPDATE.
  u = c.OnHostConsumed(300);
  ASSERT_TRUE(u);
  ASSERT_EQ(u->size(), 1u);
  ExpectHostHeader((*u)[0], Op::kCreditUpdate);
  EXPECT_EQ((*u)[0].fwd_cnt, 600u);
  // Cannot consume more than was delivered.
  EXPECT_FALSE(c.OnHostConsumed(1));
}

TEST(VsockConnection, GuestExceedingCreditIsReset) {
  Connection c = Established();
  std::string d(600, 'x');
  EXPECT_FALSE(c.OnGuestPacket(Guest(Op::kRw, 4096, 0, 0, &d)).closed);
  // 600 unconsumed of 1000: 400 more fit, 401 do not.
  std::string ok(400, 'y');
  EXPECT_FALSE(c.OnGuestPacket(Guest(Op::kRw, 4096, 0, 0, &ok)).closed);
  std::string one(1, 'z');
  Actions a = c.OnGuestPacket(Guest(Op::kRw, 4096, 0, 0, &one));
  EXPECT_TRUE(a.closed);
  EXPECT_TRUE(a.deliver.empty());
  ASSERT_EQ(a.replies.size(), 1u);
  EXPECT_EQ(a.replies[0].op, O(Op::kRst));
  EXPECT_EQ(c.state(), ConnState::kClosed);
  // Late packets of a closed connection are ignored.
  Actions late = c.OnGuestPacket(Guest(Op::kRw, 4096, 0, 0, &one));
  EXPECT_TRUE(late.replies.empty());
  EXPECT_TRUE(late.deliver.empty());
}

TEST(VsockConnection, CreditFreedByConsumptionAllowsMore) {
  Connection c = Established();
  std::string d(1000, 'x');
  EXPECT_FALSE(c.OnGuestPacket(Guest(Op::kRw, 4096, 0, 0, &d)).closed);
  ASSERT_TRUE(c.OnHostConsumed(1000));
  EXPECT_FALSE(c.OnGuestPacket(Guest(Op::kRw, 4096, 0, 0, &d)).closed);
}

TEST(VsockConnection, HostToGuestStopsAtCreditAndResumesAfterUpdate) {
  Connection c = Established(/*guest_buf=*/100);
  EXPECT_EQ(c.SendCredit(), 100u);
  auto h = c.OnHostData(60);
  ASSERT_TRUE(h);
  ExpectHostHeader(*h, Op::kRw);
  EXPECT_EQ(h->len, 60u);
  EXPECT_EQ(c.SendCredit(), 40u);
  EXPECT_FALSE(c.OnHostData(41));
  ASSERT_TRUE(c.OnHostData(40));
  EXPECT_EQ(c.SendCredit(), 0u);
  EXPECT_FALSE(c.OnHostData(1));
  EXPECT_EQ(c.tx_cnt(), 100u);
  // The guest read 70 bytes and says so.
  Actions a = c.OnGuestPacket(Guest(Op::kCreditUpdate, 100, 70));
  EXPECT_TRUE(a.credit_available);
  EXPECT_TRUE(a.replies.empty());
  EXPECT_EQ(c.SendCredit(), 70u);
  // A guest growing its buffer also grows the credit.
  a = c.OnGuestPacket(Guest(Op::kCreditUpdate, 1000, 70));
  EXPECT_TRUE(a.credit_available);
  EXPECT_EQ(c.SendCredit(), 970u);
  // Shrinking below what is in flight gives 0, not a wrapped huge credit.
  c.OnGuestPacket(Guest(Op::kCreditUpdate, 10, 70));
  EXPECT_EQ(c.SendCredit(), 0u);
}

TEST(VsockConnection, CreditIsTheWholeFreeWindowButPacketsAreCapped) {
  // The window spans packets (a batch of RX buffers is planned against all of it); one packet
  // still carries at most kMaxPayload bytes.
  Connection c = Established(/*guest_buf=*/1u << 20);
  EXPECT_EQ(c.SendCredit(), 1u << 20);
  EXPECT_FALSE(c.OnHostData(kMaxPayload + 1));
  EXPECT_EQ(c.SendCredit(), 1u << 20);  // the refused packet took no credit
  ASSERT_TRUE(c.OnHostData(kMaxPayload));
  EXPECT_EQ(c.SendCredit(), (1u << 20) - kMaxPayload);
}

TEST(VsockConnection, GuestAckingUnsentBytesIsReset) {
  Connection c = Established(100);
  ASSERT_TRUE(c.OnHostData(10));
  Actions a = c.OnGuestPacket(Guest(Op::kCreditUpdate, 100, 11));
  EXPECT_TRUE(a.closed);
  ASSERT_EQ(a.replies.size(), 1u);
  EXPECT_EQ(a.replies[0].op, O(Op::kRst));
}

TEST(VsockConnection, CountersWrap) {
  // Drive tx_cnt across 2^32 in credit-sized steps, with the guest acking each (5.10.6.3: the
  // counters are free-running and wrap).
  Connection c = Established(kMaxPayload);
  uint32_t acked = 0;
  for (uint64_t sent = 0; sent <= (uint64_t{1} << 32) + kMaxPayload; sent += kMaxPayload / 2) {
    ASSERT_TRUE(c.OnHostData(kMaxPayload / 2));
    ASSERT_EQ(c.SendCredit(), kMaxPayload / 2);
    acked += kMaxPayload / 2;
    ASSERT_FALSE(c.OnGuestPacket(Guest(Op::kCreditUpdate, kMaxPayload, acked)).closed);
    ASSERT_EQ(c.SendCredit(), kMaxPayload);
  }
  EXPECT_LT(c.tx_cnt(), uint32_t{4} * kMaxPayload);  // wrapped
  // An ack past the wrapped tx_cnt is still caught.
  EXPECT_TRUE(c.OnGuestPacket(Guest(Op::kCreditUpdate, kMaxPayload, acked + 1)).closed);
}

TEST(VsockConnection, CreditRequestGetsCreditUpdate) {
  Connection c = Established();
  std::string d(10, 'x');
  c.OnGuestPacket(Guest(Op::kRw, 4096, 0, 0, &d));
  ASSERT_TRUE(c.OnHostConsumed(10));
  Actions a = c.OnGuestPacket(Guest(Op::kCreditRequest));
  ASSERT_EQ(a.replies.size(), 1u);
  ExpectHostHeader(a.replies[0], Op::kCreditUpdate);
  EXPECT_EQ(a.replies[0].fwd_cnt, 10u);
  EXPECT_FALSE(a.closed);
}

TEST(VsockConnection, GuestShutdownSendThenRcv) {
  Connection c = Established();
  Actions a = c.OnGuestPacket(Guest(Op::kShutdown, 4096, 0, kShutdownSend));
  EXPECT_TRUE(a.peer_shutdown_send);
  EXPECT_FALSE(a.peer_shutdown_rcv);
  EXPECT_FALSE(a.closed);
  EXPECT_GT(c.SendCredit(), 0u);  // the guest still reads
  // Data after SHUTDOWN_SEND is a violation.
  std::string d = "x";
  Connection c2 = Established();
  c2.OnGuestPacket(Guest(Op::kShutdown, 4096, 0, kShutdownSend));
  EXPECT_TRUE(c2.OnGuestPacket(Guest(Op::kRw, 4096, 0, 0, &d)).closed);
  // Then SHUTDOWN_RCV: both directions shut, so the host answers RST and closes (5.10.6.6).
  a = c.OnGuestPacket(Guest(Op::kShutdown, 4096, 0, kShutdownRcv));
  EXPECT_TRUE(a.peer_shutdown_rcv);
  EXPECT_FALSE(a.peer_shutdown_send);  // already reported
  EXPECT_TRUE(a.closed);
  ASSERT_EQ(a.replies.size(), 1u);
  EXPECT_EQ(a.replies[0].op, O(Op::kRst));
}

TEST(VsockConnection, GuestShutdownRcvStopsHostData) {
  Connection c = Established();
  Actions a = c.OnGuestPacket(Guest(Op::kShutdown, 4096, 0, kShutdownRcv));
  EXPECT_TRUE(a.peer_shutdown_rcv);
  EXPECT_EQ(c.SendCredit(), 0u);
  EXPECT_FALSE(c.OnHostData(1));
  // The guest may still send.
  std::string d = "still";
  EXPECT_EQ(c.OnGuestPacket(Guest(Op::kRw, 4096, 0, 0, &d)).deliver.size(), 1u);
}

TEST(VsockConnection, HostShutdownThenGuestRst) {
  Connection c = Established();
  auto s = c.OnHostShutdown(kShutdownSend);
  ASSERT_TRUE(s);
  ExpectHostHeader(*s, Op::kShutdown);
  EXPECT_EQ(s->flags, kShutdownSend);
  EXPECT_EQ(c.SendCredit(), 0u);
  EXPECT_EQ(c.state(), ConnState::kEstablished);
  // Guest data still flows to the host.
  std::string d = "reply";
  EXPECT_EQ(c.OnGuestPacket(Guest(Op::kRw, 4096, 0, 0, &d)).deliver.size(), 1u);
  s = c.OnHostShutdown(kShutdownRcv);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->flags, kShutdownBoth);
  EXPECT_EQ(c.state(), ConnState::kClosing);
  Actions a = c.OnGuestPacket(Guest(Op::kRst));
  EXPECT_TRUE(a.closed);
  EXPECT_TRUE(a.replies.empty());
  EXPECT_EQ(c.state(), ConnState::kClosed);
}

TEST(VsockConnection, HostShutdownRejectsBadFlags) {
  Connection c = Established();
  EXPECT_FALSE(c.OnHostShutdown(0));
  EXPECT_FALSE(c.OnHostShutdown(4));
  Connection idle(kGuestCid, kHostPort, kGuestPort, kHostBuf);
  EXPECT_FALSE(idle.OnHostShutdown(kShutdownBoth));
}

TEST(VsockConnection, HostReset) {
  Connection c = Established();
  VsockHeader rst = c.Reset();
  ExpectHostHeader(rst, Op::kRst);
  EXPECT_EQ(c.state(), ConnState::kClosed);
  EXPECT_EQ(c.SendCredit(), 0u);
}

TEST(VsockConnection, GuestResetClosesWithoutReply) {
  Connection c = Established();
  Actions a = c.OnGuestPacket(Guest(Op::kRst));
  EXPECT_TRUE(a.closed);
  EXPECT_TRUE(a.replies.empty());
  EXPECT_EQ(c.state(), ConnState::kClosed);
}

TEST(VsockConnection, RequestOnEstablishedIsReset) {
  Connection c = Established();
  Actions a = c.OnGuestPacket(Guest(Op::kRequest));
  EXPECT_TRUE(a.closed);
  ASSERT_EQ(a.replies.size(), 1u);
  EXPECT_EQ(a.replies[0].op, O(Op::kRst));
}

TEST(VsockConnection, UnsupportedPacketIsReset) {
  Connection c = Established();
  VsockPacket p = Guest(Op::kRw);
  p.hdr.op = 42;
  p.unsupported = true;
  Actions a = c.OnGuestPacket(p);
  EXPECT_TRUE(a.closed);
  ASSERT_EQ(a.replies.size(), 1u);
  EXPECT_EQ(a.replies[0].op, O(Op::kRst));
}

TEST(VsockConnection, FirstPacketOtherThanRequestIsReset) {
  Connection c(kGuestCid, kHostPort, kGuestPort, kHostBuf);
  Actions a = c.OnGuestPacket(Guest(Op::kCreditRequest));
  EXPECT_TRUE(a.closed);
  ASSERT_EQ(a.replies.size(), 1u);
  EXPECT_EQ(a.replies[0].op, O(Op::kRst));
}

}  // namespace
}  // namespace uvm::devices::virtio::vsock
