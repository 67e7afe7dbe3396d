#include "devices/virtio/vsock/connection.h"

#include <algorithm>
#include <string>

namespace uvm::devices::virtio::vsock {

Connection::Connection(uint64_t guest_cid, uint32_t host_port, uint32_t guest_port,
                       uint32_t buf_alloc)
    : guest_cid_(guest_cid),
      host_port_(host_port),
      guest_port_(guest_port),
      buf_alloc_(buf_alloc) {}

VsockHeader Connection::Header(Op op, uint32_t flags) {
  VsockHeader h;
  h.src_cid = kHostCid;
  h.dst_cid = guest_cid_;
  h.src_port = host_port_;
  h.dst_port = guest_port_;
  h.type = kTypeStream;
  h.op = static_cast<uint16_t>(op);
  h.flags = flags;
  // 5.10.6.3: every packet carries our credit, so each one doubles as a credit update.
  h.buf_alloc = buf_alloc_;
  h.fwd_cnt = fwd_cnt_;
  last_sent_fwd_cnt_ = fwd_cnt_;
  return h;
}

bool Connection::UpdatePeerCredit(const VsockHeader& h) {
  // The guest cannot have consumed bytes we never sent: fwd_cnt moves forward (mod 2^32) by at
  // most what is in flight.
  const uint32_t advanced = h.fwd_cnt - peer_fwd_cnt_;
  const uint32_t in_flight = tx_cnt_ - peer_fwd_cnt_;
  if (advanced > in_flight) return false;
  peer_buf_alloc_ = h.buf_alloc;
  peer_fwd_cnt_ = h.fwd_cnt;
  return true;
}

Actions Connection::Violation() {
  Actions a;
  a.replies.push_back(Reset());
  a.closed = true;
  return a;
}

VsockHeader Connection::Reset() {
  state_ = ConnState::kClosed;
  return Header(Op::kRst);
}

Actions Connection::OnGuestPacket(const VsockPacket& pkt) {
  const VsockHeader& h = pkt.hdr;
  Actions a;
  if (state_ == ConnState::kClosed) return a;  // late packets of a finished connection
  const Op op = static_cast<Op>(h.op);
  if (pkt.unsupported) {
    if (op == Op::kRst) return a;
    return Violation();
  }
  // 5.10.6.6: RST ends the connection in any state, and is never answered.
  if (op == Op::kRst) {
    state_ = ConnState::kClosed;
    a.closed = true;
    return a;
  }

  switch (state_) {
    case ConnState::kIdle:
      // 5.10.6.4: a guest connects with REQUEST; anything else has no connection to go to.
      if (op != Op::kRequest) return Violation();
      // Before the handshake nothing was sent, so fwd_cnt must be 0 (UpdatePeerCredit checks).
      if (!UpdatePeerCredit(h)) return Violation();
      state_ = ConnState::kGuestConnecting;
      a.accept_requested = true;
      return a;
    case ConnState::kGuestConnecting:
      // The guest must wait for our RESPONSE (or RST) before anything but RST.
      return Violation();
    case ConnState::kHostConnecting:
      if (op != Op::kResponse || !UpdatePeerCredit(h)) return Violation();
      state_ = ConnState::kEstablished;
      a.connected = true;
      a.credit_available = SendCredit() > 0;
      return a;
    case ConnState::kEstablished:
    case ConnState::kClosing:
      break;
    case ConnState::kClosed:
      return a;
  }

  // Established or closing.
  const uint32_t credit_before = SendCredit();
  if (!UpdatePeerCredit(h)) return Violation();
  switch (op) {
    case Op::kRw: {
      // Data after the guest promised to send no more, or beyond the credit we gave it.
      if (peer_shutdown_ & kShutdownSend) return Violation();
      const uint32_t unconsumed = rx_cnt_ - fwd_cnt_;
      if (h.len > buf_alloc_ - std::min(unconsumed, buf_alloc_)) return Violation();
      rx_cnt_ += h.len;
      a.deliver = pkt.payload;
      break;
    }
    case Op::kCreditUpdate:
      break;
    case Op::kCreditRequest:
      // 5.10.6.3: the peer asks for our credit; answer with CREDIT_UPDATE.
      a.replies.push_back(Header(Op::kCreditUpdate));
      break;
    case Op::kShutdown: {
      const uint32_t added = h.flags & kShutdownBoth & ~peer_shutdown_;
      peer_shutdown_ |= h.flags & kShutdownBoth;
      a.peer_shutdown_send = added & kShutdownSend;
      a.peer_shutdown_rcv = added & kShutdownRcv;
      // 5.10.6.6: SHUTDOWN with both directions is answered with RST, which completes the close.
      // Bytes the host socket has not taken yet are still written out by the device.
      if (peer_shutdown_ == kShutdownBoth) {
        a.replies.push_back(Reset());
        a.closed = true;
        return a;
      }
      break;
    }
    case Op::kRequest:
    case Op::kResponse:
    default:
      return Violation();
  }
  a.credit_available = SendCredit() > credit_before;
  return a;
}

Result<VsockHeader> Connection::Connect() {
  if (state_ != ConnState::kIdle) return Err("vsock: Connect() on a connection already in use");
  state_ = ConnState::kHostConnecting;
  return Header(Op::kRequest);
}

Result<VsockHeader> Connection::Accept() {
  if (state_ != ConnState::kGuestConnecting) {
    return Err("vsock: Accept() without a pending guest REQUEST");
  }
  state_ = ConnState::kEstablished;
  return Header(Op::kResponse);
}

Result<VsockHeader> Connection::Refuse() {
  if (state_ != ConnState::kGuestConnecting) {
    return Err("vsock: Refuse() without a pending guest REQUEST");
  }
  return Reset();
}

uint32_t Connection::SendCredit() const {
  if (state_ != ConnState::kEstablished) return 0;
  if ((peer_shutdown_ & kShutdownRcv) || (host_shutdown_ & kShutdownSend)) return 0;
  // 64-bit so a guest that shrank buf_alloc below what is in flight gives 0, not a huge number.
  const int64_t free_bytes =
      int64_t{peer_buf_alloc_} - int64_t{static_cast<uint32_t>(tx_cnt_ - peer_fwd_cnt_)};
  // Not capped at one packet's payload: a caller filling several RX buffers at once plans them
  // against the whole window, so only the window's end (not every 64 KiB) leaves a short packet.
  return free_bytes <= 0 ? 0 : static_cast<uint32_t>(free_bytes);
}

Result<VsockHeader> Connection::OnHostData(uint32_t size) {
  if (size > kMaxPayload) {
    return Err("vsock: host sends a packet of " + std::to_string(size) + " bytes, more than " +
               std::to_string(kMaxPayload));
  }
  if (size > SendCredit()) {
    return Err("vsock: host sends " + std::to_string(size) + " bytes with credit for " +
               std::to_string(SendCredit()));
  }
  tx_cnt_ += size;
  VsockHeader h = Header(Op::kRw);
  h.len = size;
  return h;
}

Result<std::vector<VsockHeader>> Connection::OnHostConsumed(uint32_t size) {
  if (size > rx_cnt_ - fwd_cnt_) {
    return Err("vsock: host consumed " + std::to_string(size) + " bytes of " +
               std::to_string(rx_cnt_ - fwd_cnt_) + " delivered");
  }
  fwd_cnt_ += size;
  std::vector<VsockHeader> out;
  // Tell the guest once half the buffer was freed since it last heard our fwd_cnt, so a
  // streaming guest never stalls on credit (Linux uses a similar low-water mark).
  if ((state_ == ConnState::kEstablished || state_ == ConnState::kClosing) &&
      !(peer_shutdown_ & kShutdownSend) && fwd_cnt_ - last_sent_fwd_cnt_ >= buf_alloc_ / 2 &&
      fwd_cnt_ != last_sent_fwd_cnt_) {
    out.push_back(Header(Op::kCreditUpdate));
  }
  return out;
}

Result<VsockHeader> Connection::OnHostShutdown(uint32_t flags) {
  if (state_ != ConnState::kEstablished) {
    return Err("vsock: shutdown of a connection that is not established");
  }
  if ((flags & kShutdownBoth) == 0 || (flags & ~kShutdownBoth) != 0) {
    return Err("vsock: bad shutdown flags " + std::to_string(flags));
  }
  host_shutdown_ |= flags;
  if (host_shutdown_ == kShutdownBoth) state_ = ConnState::kClosing;
  return Header(Op::kShutdown, host_shutdown_);
}

}  // namespace uvm::devices::virtio::vsock
