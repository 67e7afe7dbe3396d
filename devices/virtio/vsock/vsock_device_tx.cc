// VsockDevice's transmit path, guest -> host (5.10.6.4): the TX queue's packets are parsed and
// handed to their connection's protocol state; guest payload goes to the host stream at once or
// waits in the connection's buffer; a guest's REQUEST dials the host side. The rest of the device
// is in vsock_device.cc, the receive path in vsock_device_rx.cc.
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/log.h"
#include "devices/virtio/vsock/vsock_device.h"

namespace uvm::devices::virtio::vsock {

Result<void> VsockDevice::ProcessTx() {
  tx_paused_ = false;
  if (!tx_) return {};
  for (;;) {
    if (replies_.size() >= kMaxPendingReplies) {
      UVM_CHECK(FlushReplies());
      if (replies_.size() >= kMaxPendingReplies) {
        tx_paused_ = true;  // resumed when the driver posts RX buffers
        break;
      }
    }
    auto popped = tx_->PopChain(*mem_);
    if (!popped) return tl::unexpected<Error>(popped.error());
    if (!*popped) break;
    HandleTxChain(**popped);
    tx_->PushUsed(*mem_, (*popped)->head, 0);
    tx_pushed_ = true;
  }
  return FlushReplies();
}

void VsockDevice::HandleTxChain(const Chain& chain) {
  auto parsed = ParsePacket(chain, guest_cid_);
  if (!parsed) {
    Log(LogLevel::kDebug, "vsock: dropped TX packet: " + parsed.error().message);
    return;
  }
  const VsockPacket& pkt = *parsed;
  const VsockHeader& h = pkt.hdr;
  const Key key{h.dst_port, h.src_port};
  auto it = conns_.find(key);
  if (it == conns_.end()) {
    if (!pkt.unsupported && h.op == static_cast<uint16_t>(Op::kRequest)) {
      GuestConnect(pkt);
    } else if (auto rst = ResetReplyFor(h)) {
      replies_.push_back(*rst);
    }
    return;
  }
  Conn& c = *it->second;
  const bool was_stopped = c.proto.SendCredit() == 0;
  Actions a = c.proto.OnGuestPacket(pkt);
  for (const auto& r : a.replies) replies_.push_back(r);
  if (!SendOrBuffer(key, a.deliver)) return;
  if (a.connected) {
    // The guest accepted a host-initiated connection: tell the client before any payload.
    const std::string ok = host_->AcceptedPrefix(key.first);
    c.out.insert(0, ok);
    c.out_uncounted += ok.size();
  }
  if (a.peer_shutdown_send) c.guest_eof = true;
  if (a.closed) {
    // The guest closed (SHUTDOWN both ways, answered with RST) and forgot the connection, but
    // bytes it sent may still wait for the host socket: write them out before closing it.
    if (c.out.empty()) {
      DropConn(key);
      return;
    }
    c.draining = true;
    c.guest_eof = true;
    c.host_eof = true;  // nothing more is read from the socket: the guest would not take it
  }
  if (!FlushOut(key)) return;
  if (was_stopped && c.proto.SendCredit() > 0 && !c.host_eof) {
    reopened_.push_back(key);  // ReadReopened() reads it and updates its interest
    return;
  }
  UpdateInterest(key);
}

Result<void> VsockDevice::ReadReopened() {
  std::vector<Key> keys;
  keys.swap(reopened_);
  for (const Key& key : keys) {
    if (!rx_starved_ && conns_.contains(key)) UVM_CHECK(ReadHost(key));
    UpdateInterest(key);  // also when starved: the RX refill's UpdateAllInterest may not come
  }
  return {};
}

void VsockDevice::GuestConnect(const VsockPacket& pkt) {
  const VsockHeader& h = pkt.hdr;
  auto c = std::make_unique<Conn>(guest_cid_, h.dst_port, h.src_port);
  Actions a = c->proto.OnGuestPacket(pkt);
  for (const auto& r : a.replies) replies_.push_back(r);
  if (!a.accept_requested) return;
  UniqueFd fd;
  if (conns_.size() < kMaxConnections) {
    if (auto stream = host_->ConnectToHost(h.dst_port)) fd = std::move(*stream);
  }
  if (!fd.valid()) {
    if (auto rst = c->proto.Refuse()) replies_.push_back(*rst);
    return;
  }
  auto resp = c->proto.Accept();
  if (!resp) return;
  replies_.push_back(*resp);
  c->fd = std::move(fd);
  const Key key{h.dst_port, h.src_port};
  conns_.emplace(key, std::move(c));
  UpdateInterest(key);
}

bool VsockDevice::SendOrBuffer(Key key, std::span<const std::span<uint8_t>> payload) {
  Conn& c = *conns_.at(key);
  size_t skip = 0;  // bytes of `payload` the socket took straight from guest memory
  // The common case: nothing is waiting for this socket, so send straight from the guest's
  // buffers (no copy into `out`); only what the socket does not take is buffered.
  if (c.out.empty() && !payload.empty()) {
    iovec iov[kMaxDeliverSpans];
    size_t n_iov = 0;
    for (auto span : payload) {
      if (n_iov == kMaxDeliverSpans) break;  // the rest is buffered below
      iov[n_iov++] = {span.data(), span.size()};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n_iov;
    ssize_t n;
    do {
      n = ::sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      ResetConn(key);
      return false;
    }
    if (n > 0) {
      skip = static_cast<size_t>(n);
      if (auto updates = c.proto.OnHostConsumed(static_cast<uint32_t>(skip))) {
        for (const auto& u : *updates) replies_.push_back(u);
      }
    }
  }
  for (auto span : payload) {
    const size_t drop = std::min(skip, span.size());
    skip -= drop;
    c.out.append(reinterpret_cast<const char*>(span.data()) + drop, span.size() - drop);
  }
  return true;
}

bool VsockDevice::FlushOut(Key key) {
  Conn& c = *conns_.at(key);
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      ResetConn(key);
      return false;
    }
    const size_t sent = static_cast<size_t>(n);
    const size_t ours = std::min(sent, c.out_uncounted);
    c.out_uncounted -= ours;
    c.out.erase(0, sent);
    if (sent > ours) {
      auto updates = c.proto.OnHostConsumed(static_cast<uint32_t>(sent - ours));
      if (updates) {
        for (const auto& u : *updates) replies_.push_back(u);
      }
    }
  }
  if (c.out.empty() && c.guest_eof && !c.wr_shut) {
    ::shutdown(c.fd.get(), SHUT_WR);
    c.wr_shut = true;
  }
  if (c.out.empty() && c.draining) {
    DropConn(key);
    return false;
  }
  return true;
}

}  // namespace uvm::devices::virtio::vsock
