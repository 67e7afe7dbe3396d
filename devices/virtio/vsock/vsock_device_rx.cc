// VsockDevice's receive path, host -> guest (5.10.6.3, 5.10.6.5): control replies and host
// socket bytes go into the driver's RX buffers, a batch of buffers per recvmsg. The rest of the
// device (queues, TX, connections, the event loop) is in vsock_device.cc.
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

#include "devices/virtio/vsock/vsock_device.h"

namespace uvm::devices::virtio::vsock {
namespace {

// Per socket wakeup: 72 packets, the guest's whole default credit of 256 KiB in one batch (Linux
// posts 4 KiB RX buffers; the Debian 6.1 guest leaves 3732 bytes of payload room in each, so a
// window is 71 packets), yet a bounded turn before other connections' events are served.
constexpr int kMaxPacketsPerWakeup = 72;

}  // namespace

Result<bool> VsockDevice::PopRx(Chain& out) {
  for (;;) {
    if (!spare_rx_.empty()) {
      out = std::move(spare_rx_.front());
      spare_rx_.pop_front();
    } else {
      if (!rx_) return false;
      UVM_TRY(const bool popped, rx_->PopChainInto(*mem_, out));
      if (!popped) return false;
    }
    if (out.writable_bytes() >= sizeof(VsockHeader)) return true;
    // Too small for any packet: hand it back empty.
    rx_->PushUsed(*mem_, out.head, 0);
    rx_pushed_ = true;
  }
}

Result<void> VsockDevice::FlushReplies() {
  Chain chain;
  while (!replies_.empty()) {
    UVM_TRY(const bool popped, PopRx(chain));
    if (!popped) {
      rx_starved_ = true;
      return {};
    }
    ChainWriter w(chain);
    const size_t n = WritePacket(w, replies_.front(), {});
    rx_->PushUsed(*mem_, chain.head, static_cast<uint32_t>(n));
    rx_pushed_ = true;
    replies_.pop_front();
  }
  return {};
}

Result<void> VsockDevice::ReadHost(Key key) {
  int packets = 0;
  while (packets < kMaxPacketsPerWakeup) {
    auto it = conns_.find(key);
    if (it == conns_.end()) return {};
    Conn& c = *it->second;
    if (c.host_eof) return {};
    UVM_CHECK(FlushReplies());  // control packets (RESPONSE, ...) go first
    if (!replies_.empty()) return {};
    const uint32_t credit = c.proto.SendCredit();
    if (credit == 0) return {};
    // One recvmsg straight into as many RX buffers as the socket's queued bytes fill (Linux's
    // driver posts 4 KiB buffers): a system call and a copy per batch instead of per packet.
    // At least one byte is asked for, so end of file and errors are seen.
    int queued = 0;
    const bool counted = ::ioctl(c.fd.get(), FIONREAD, &queued) == 0 && queued > 0;
    if (!counted) queued = 1;
    const uint64_t want = std::min<uint64_t>(credit, static_cast<uint64_t>(queued));
    rx_iov_.clear();
    size_t batch = 0;  // rx_batch_[0, batch) hold this recvmsg's chains
    uint64_t planned = 0;
    bool out_of_chains = false;
    while (planned < want && packets + static_cast<int>(batch) < kMaxPacketsPerWakeup) {
      if (batch == rx_batch_.size()) rx_batch_.emplace_back();
      RxSlot& slot = rx_batch_[batch];
      UVM_TRY(const bool popped, PopRx(slot.chain));
      if (!popped) {
        out_of_chains = true;
        break;
      }
      const uint64_t payload_room = slot.chain.writable_bytes() - sizeof(VsockHeader);  // PopRx
      if (payload_room == 0) {
        // Room for a header only (the driver picks its buffer sizes, 5.10.6.3): no data fits,
        // so it carries a credit update for this connection rather than hold the stream up
        // until some control packet needs it. Behind a batch it waits, after the batch's chains
        // in pop order, so the spares stay the last chains popped (Quiesce()).
        if (batch > 0) {
          spare_rx_.push_front(std::move(slot.chain));
          break;
        }
        ChainWriter w(slot.chain);
        const size_t n = WritePacket(w, c.proto.CreditUpdate(), {});
        rx_->PushUsed(*mem_, slot.chain.head, static_cast<uint32_t>(n));
        rx_pushed_ = true;
        ++packets;
        continue;
      }
      ChainWriter w(slot.chain);
      slot.room = std::min<uint64_t>({payload_room, kMaxPayload, want - planned});
      w.Skip(sizeof(VsockHeader));  // written after the recvmsg, once its length is known
      w.TakeIovecs(slot.room, rx_iov_);
      planned += slot.room;
      ++batch;
    }
    if (batch == 0) {
      // Starved only if the ring ran dry: PopChainInto() then asked the driver for a kick. A
      // batch cut short by header-only chains (credit updates count as packets) resumes on
      // EPOLLIN.
      if (out_of_chains) rx_starved_ = true;
      return {};
    }
    msghdr msg{};
    msg.msg_iov = rx_iov_.data();
    msg.msg_iovlen = rx_iov_.size();
    const ssize_t got = ::recvmsg(c.fd.get(), &msg, MSG_DONTWAIT);
    const uint64_t received = got > 0 ? static_cast<uint64_t>(got) : 0;
    // Fill the batch's chains in order and publish them with one used idx update; the ones left
    // empty go back to the spares, in pop order and ahead of any spare popped after them.
    uint64_t left = received;
    size_t used = 0;
    rx_used_.clear();
    for (; used < batch && left > 0; ++used) {
      RxSlot& slot = rx_batch_[used];
      const uint32_t len = static_cast<uint32_t>(std::min(left, slot.room));
      left -= len;
      auto hdr = c.proto.OnHostData(len);  // len <= credit: always a header
      if (!hdr) break;
      VsockHeader h = *hdr;
      h.len = len;
      ChainWriter(slot.chain).WriteObj(h);  // Skip() left room for it
      rx_used_.push_back({slot.chain.head, static_cast<uint32_t>(sizeof(VsockHeader) + len)});
      ++packets;
    }
    if (!rx_used_.empty()) {
      rx_->PushUsedMany(*mem_, rx_used_);
      rx_pushed_ = true;
    }
    for (size_t k = batch; k > used; --k) {
      spare_rx_.push_front(std::move(rx_batch_[k - 1].chain));
    }
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {};
      ResetConn(key);
      return FlushReplies();
    }
    if (got == 0) {
      c.host_eof = true;
      if (auto s = c.proto.OnHostShutdown(kShutdownSend)) replies_.push_back(*s);
      return FlushReplies();
    }
    if (received < planned) return {};  // the socket is empty for now
    // All FIONREAD reported was read: the socket was drained a moment ago, so skip the FIONREAD
    // and recvmsg that would most likely find it empty. The socket is polled level-triggered:
    // bytes or an end of file that arrived meanwhile wake ReadHost again.
    if (counted && received == static_cast<uint64_t>(queued)) return {};
  }
  return {};
}

}  // namespace uvm::devices::virtio::vsock
