// One virtio-vsock stream connection between a guest port and a host port: its state machine
// (virtio 1.2, 5.10.6.3-5.10.6.6) and credit-based flow control (5.10.6.3). Pure: no sockets, no
// queues. The device feeds it guest packets and host-side events and carries out the Actions it
// returns (deliver bytes to the host side, put reply packets on the RX queue, forget the
// connection).
//
// Flow control, both directions (5.10.6.3): each side advertises buf_alloc (its receive buffer)
// and fwd_cnt (bytes it has consumed) in every packet. A sender may have at most
//   peer_free = peer_buf_alloc - (tx_cnt - peer_fwd_cnt)
// bytes in flight. The guest sending more than the credit we gave it is a protocol violation and
// answered with RST, as Linux does when its own receive buffer would overflow.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "devices/virtio/vsock/packet.h"

namespace uvm::devices::virtio::vsock {

enum class ConnState {
  kIdle,             // created for a guest REQUEST not yet seen, or for Connect() not yet called
  kGuestConnecting,  // guest sent REQUEST; the device must Accept() or Refuse()
  kHostConnecting,   // host sent REQUEST; waiting for the guest's RESPONSE (or RST)
  kEstablished,
  kClosing,  // host shut down both directions; waiting for the guest's RST (5.10.6.6)
  kClosed,   // done; the device forgets the connection
};

// What the device must do after an event, in this order: deliver, send replies, then the rest.
struct Actions {
  // Guest payload for the host side, spans into the TX chain (valid until it is returned). The
  // device calls OnHostConsumed() as the host side takes them.
  std::vector<std::span<uint8_t>> deliver;
  // Control packets to put on the RX queue (no payload), in order.
  std::vector<VsockHeader> replies;
  bool accept_requested = false;    // guest REQUEST: connect the host side, then Accept()/Refuse()
  bool connected = false;           // the guest answered our REQUEST: host-initiated connect done
  bool peer_shutdown_send = false;  // the guest will send no more: EOF for the host side
  bool peer_shutdown_rcv = false;   // the guest will read no more: stop sending
  bool credit_available = false;    // SendCredit() may have grown: try sending host data again
  bool closed = false;              // the connection is over (reset or clean close)
};

class Connection {
 public:
  // `buf_alloc` is the receive buffer the host side offers the guest (our credit to it).
  Connection(uint64_t guest_cid, uint32_t host_port, uint32_t guest_port, uint32_t buf_alloc);

  ConnState state() const { return state_; }
  uint32_t host_port() const { return host_port_; }
  uint32_t guest_port() const { return guest_port_; }

  // A packet from the guest addressed to this connection (ParsePacket() output).
  Actions OnGuestPacket(const VsockPacket& pkt);

  // Host-initiated connect (5.10.6.4): the REQUEST to send. Only from kIdle.
  Result<VsockHeader> Connect();
  // Answers a guest REQUEST (state kGuestConnecting) with RESPONSE / RST.
  Result<VsockHeader> Accept();
  Result<VsockHeader> Refuse();

  // Payload bytes the host may send now, over any number of packets: the guest's free credit, 0
  // unless established and the guest still reads and the host has not shut down sending.
  uint32_t SendCredit() const;
  // The host sends one packet of `size` bytes (≤ SendCredit() and ≤ kMaxPayload): the RW header
  // to write before them.
  Result<VsockHeader> OnHostData(uint32_t size);
  // The host side consumed `size` delivered bytes; may return a CREDIT_UPDATE to send (when half
  // the buffer was consumed since the guest last heard our fwd_cnt).
  Result<std::vector<VsockHeader>> OnHostConsumed(uint32_t size);
  // The host side shut down (kShutdown* flags): the SHUTDOWN to send. Both directions shut down
  // on both sides → kClosing, waiting for the guest's RST (5.10.6.6).
  Result<VsockHeader> OnHostShutdown(uint32_t flags);
  // Host abort (or close timeout): the RST to send; the connection is closed.
  VsockHeader Reset();
  // A CREDIT_UPDATE to send now, unasked (5.10.6.3 lets either side send one at any time): what
  // the device puts in a receive buffer too small for any data.
  VsockHeader CreditUpdate() { return Header(Op::kCreditUpdate); }

  // Flow-control state, for the device's logs and for tests.
  uint32_t tx_cnt() const { return tx_cnt_; }
  uint32_t rx_cnt() const { return rx_cnt_; }
  uint32_t fwd_cnt() const { return fwd_cnt_; }
  uint32_t peer_buf_alloc() const { return peer_buf_alloc_; }
  uint32_t peer_fwd_cnt() const { return peer_fwd_cnt_; }

 private:
  VsockHeader Header(Op op, uint32_t flags = 0);
  // Records the guest's credit fields; false if its fwd_cnt is impossible.
  bool UpdatePeerCredit(const VsockHeader& h);
  // RST the guest and close, for a protocol violation.
  Actions Violation();

  uint64_t guest_cid_;
  uint32_t host_port_;
  uint32_t guest_port_;
  uint32_t buf_alloc_;
  ConnState state_ = ConnState::kIdle;

  // Host → guest.
  uint32_t tx_cnt_ = 0;          // payload bytes sent to the guest (wraps, 5.10.6.3)
  uint32_t peer_buf_alloc_ = 0;  // guest's receive buffer
  uint32_t peer_fwd_cnt_ = 0;    // bytes the guest has consumed
  // Guest → host.
  uint32_t rx_cnt_ = 0;             // payload bytes received from the guest
  uint32_t fwd_cnt_ = 0;            // of those, consumed by the host side
  uint32_t last_sent_fwd_cnt_ = 0;  // fwd_cnt the guest last heard from us

  uint32_t peer_shutdown_ = 0;  // kShutdown* the guest announced
  uint32_t host_shutdown_ = 0;  // kShutdown* the host announced
};

}  // namespace uvm::devices::virtio::vsock
