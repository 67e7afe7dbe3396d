#include "devices/virtio/vsock/vsock_device.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "base/log.h"
#include "base/unix_socket.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::vsock {
namespace {

constexpr size_t kMaxLine = 64;

// A non-blocking connect; a unix socket connects at once or fails (EAGAIN: backlog full).
UniqueFd ConnectUnix(const std::string& path) {
  auto addr = UnixSocketAddress(path);
  if (!addr) return {};
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return {};
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) < 0) {
    return {};
  }
  return fd;
}

// "CONNECT <port>" (without the newline).
std::optional<uint32_t> ParseConnectLine(std::string_view line) {
  constexpr std::string_view kPrefix = "CONNECT ";
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  line.remove_prefix(kPrefix.size());
  uint32_t port = 0;
  auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), port);
  if (ec != std::errc() || end != line.data() + line.size() || line.empty()) return std::nullopt;
  return port;
}

}  // namespace

VsockDevice::VsockDevice(uint64_t guest_cid, std::string uds, EventLoop& loop, UniqueFd listener)
    : guest_cid_(guest_cid),
      uds_(std::move(uds)),
      loop_(loop),
      listener_(std::move(listener)),
      buf_(kMaxPayload) {}

Result<std::shared_ptr<VsockDevice>> VsockDevice::Create(uint64_t guest_cid, std::string uds,
                                                         EventLoop& loop) {
  // 5.10.4: 0, 1 and 2 are reserved; Linux also reserves U32_MAX (VMADDR_CID_ANY) and uses 32 bits.
  if (guest_cid < 3 || guest_cid >= 0xffffffffull) {
    return Err("vsock: invalid guest CID " + std::to_string(guest_cid));
  }
  UVM_TRY(sockaddr_un addr, Context(UnixSocketAddress(uds), "vsock"));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoErr("vsock: socket");
  struct stat st;
  if (::lstat(uds.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(uds.c_str());
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
    return ErrnoErr("vsock: bind " + uds);
  }
  if (::listen(fd.get(), 64) < 0) return ErrnoErr("vsock: listen " + uds);
  const int lfd = fd.get();
  std::shared_ptr<VsockDevice> dev(new VsockDevice(guest_cid, std::move(uds), loop, std::move(fd)));
  VsockDevice* raw = dev.get();  // the device removes its callbacks before it dies
  UVM_CHECK(loop.Add(lfd, EPOLLIN, [raw](uint32_t) { raw->OnListener(); }));
  dev->reset_ack_timer_.Reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!dev->reset_ack_timer_.valid()) return ErrnoErr("vsock: timerfd_create");
  UVM_CHECK(
      loop.Add(dev->reset_ack_timer_.get(), EPOLLIN, [raw](uint32_t) { raw->OnResetAckTimer(); }));
  return dev;
}

VsockDevice::~VsockDevice() {
  std::lock_guard lock(mu_);
  DropAll();
  for (auto& [fd, client] : pending_clients_) loop_.Remove(fd);
  pending_clients_.clear();
  loop_.Remove(listener_.get());
  if (reset_ack_timer_.valid()) loop_.Remove(reset_ack_timer_.get());
  ::unlink(uds_.c_str());
}

uint32_t VsockDevice::DeviceType() const { return kDeviceIdVsock; }

uint64_t VsockDevice::Features() const {
  return Bit(kVsockFStream) | Bit(kFeatureIndirectDesc) | Bit(kFeatureEventIdx);
}

void VsockDevice::ReadConfig(uint64_t offset, std::span<uint8_t> data) {
  const uint64_t cid = guest_cid_;  // le64 guest_cid; little-endian host (packet.h)
  ReadConfigBytes(std::span(reinterpret_cast<const uint8_t*>(&cid), sizeof cid), offset, data);
}

void VsockDevice::WriteConfig(uint64_t, std::span<const uint8_t>) {}  // read-only

Result<void> VsockDevice::Activate(const GuestMemory& mem, uint64_t, std::span<Queue> queues,
                                   InterruptSink& irq) {
  std::lock_guard lock(mu_);
  auto ready = [&](size_t i) { return i < queues.size() && queues[i].state().ready; };
  mem_ = &mem;
  irq_ = &irq;
  rx_ = ready(kRxQueue) ? &queues[kRxQueue] : nullptr;
  tx_ = ready(kTxQueue) ? &queues[kTxQueue] : nullptr;
  ev_ = ready(kEventQueue) ? &queues[kEventQueue] : nullptr;
  active_ = true;
  broken_ = false;
  rx_starved_ = false;
  tx_paused_ = false;
  return {};
}

void VsockDevice::Reset() {
  std::lock_guard lock(mu_);
  DropAll();
  replies_.clear();
  spare_rx_.clear();
  pending_events_ = 0;
  reset_sent_at_.reset();
  reset_avail_idx_.reset();
  active_ = false;
  broken_ = false;
  rx_starved_ = false;
  tx_paused_ = false;
  rx_pushed_ = tx_pushed_ = ev_pushed_ = false;
  mem_ = nullptr;
  irq_ = nullptr;
  rx_ = tx_ = ev_ = nullptr;
}

Result<void> VsockDevice::ProcessQueue(size_t index) {
  std::lock_guard lock(mu_);
  if (!Live()) return {};
  Result<void> r;
  switch (index) {
    case kRxQueue:
      r = FlushReplies();
      if (r && !spare_rx_.empty()) rx_starved_ = false;
      if (r && replies_.empty()) {
        // New buffers: resume reading the sockets, and the TX queue if replies held it up.
        rx_starved_ = false;
        if (tx_paused_) r = ProcessTx();
        if (r) r = ReadReopened();
        if (r) UpdateAllInterest();
      }
      break;
    case kTxQueue:
      r = ProcessTx();
      if (r) r = ReadReopened();
      break;
    case kEventQueue:
      r = FlushEvents();
      if (r) CheckResetAck();
      break;
    default:
      break;
  }
  if (!r) {
    broken_ = true;
    DropAll();
  }
  MaybeInterrupt();
  return r;
}

Result<void> VsockDevice::Quiesce() {
  std::lock_guard lock(mu_);
  if (!Live() || spare_rx_.empty()) return {};
  // PopRx() takes the spares before popping another chain, and chains go back to the spares in
  // the order they were popped, so the spares are the last chains popped, in pop order.
  std::vector<uint16_t> heads;
  for (const Chain& c : spare_rx_) heads.push_back(c.head);
  UVM_CHECK(Context(rx_->Unpop(*mem_, heads), "virtio-vsock receive queue"));
  spare_rx_.clear();
  return {};
}

void VsockDevice::SendTransportReset() {
  std::lock_guard lock(mu_);
  DropAll();
  replies_.clear();
  // Far from where any earlier device counted: 2^31 - 1024 choices above 2^31.
  uint32_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<uint32_t>(::getpid());
  next_host_port_ = 0x80000000u + r % (0x7fffffffu - kFirstHostPort);
  if (!Live()) return;
  reset_sent_at_ = std::chrono::steady_clock::now();
  reset_avail_idx_.reset();
  pending_events_ = 1;
  if (auto r = FlushEvents(); !r) Fail(r.error());
  MaybeInterrupt();
}

void VsockDevice::DrainToHost(std::chrono::milliseconds stall_limit,
                              std::chrono::milliseconds total_limit) {
  std::lock_guard lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + total_limit;
  // The guest may have queued packets (the RESPONSE to a host CONNECT, its last bytes) and stopped
  // before the loop thread saw the notification: take them now, so they reach the host too.
  while (Live()) {
    if (auto r = ProcessTx(); !r) {
      Log(LogLevel::kWarn,
          "vsock: the VM ended with a transmit queue that cannot be read: " + r.error().message);
      break;
    }
    if (!tx_paused_) break;
    replies_.clear();  // the guest will never read these: they must not hold the TX queue up
  }
  reopened_.clear();  // nothing more goes to the guest
  std::vector<pollfd> fds;
  std::vector<Key> keys;
  for (;;) {
    fds.clear();
    keys.clear();
    for (const auto& [key, c] : conns_) {
      if (c->out.empty()) continue;
      fds.push_back({c->fd.get(), POLLOUT, 0});
      keys.push_back(key);
    }
    if (fds.empty()) return;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    const int n =
        ::poll(fds.data(), fds.size(), static_cast<int>(std::min(left, stall_limit).count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // no reader took anything for stall_limit
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents != 0 && conns_.contains(keys[i])) FlushOut(keys[i]);
    }
  }
  size_t dropped = 0;
  for (const auto& [key, c] : conns_) dropped += c->out.size() - c->out_uncounted;
  if (dropped > 0) {
    Log(LogLevel::kWarn, "vsock: the VM ended with " + std::to_string(dropped) +
                             " bytes from the guest that no host reader took; dropped");
  }
}

size_t VsockDevice::connection_count() const {
  std::lock_guard lock(mu_);
  return conns_.size();
}

size_t VsockDevice::pending_replies() const {
  std::lock_guard lock(mu_);
  return replies_.size();
}

// ---- TX: guest -> host ----

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
    const std::string ok = "OK " + std::to_string(key.first) + "\n";
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
  if (conns_.size() < kMaxConnections) fd = ConnectUnix(uds_ + "_" + std::to_string(h.dst_port));
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

void VsockDevice::ResetConn(Key key) {
  auto it = conns_.find(key);
  if (it == conns_.end()) return;
  if (it->second->proto.state() != ConnState::kClosed)
    replies_.push_back(it->second->proto.Reset());
  DropConn(key);
}

void VsockDevice::DropConn(Key key) {
  auto it = conns_.find(key);
  if (it == conns_.end()) return;
  if (it->second->registered) loop_.Remove(it->second->fd.get());
  conns_.erase(it);
}

void VsockDevice::DropAll() {
  for (auto& [key, c] : conns_) {
    if (c->registered) loop_.Remove(c->fd.get());
  }
  conns_.clear();
  held_connects_.clear();
  reopened_.clear();
}

Result<void> VsockDevice::FlushEvents() {
  while (pending_events_ > 0) {
    if (!ev_) return {};
    auto popped = ev_->PopChain(*mem_);
    if (!popped) return tl::unexpected<Error>(popped.error());
    if (!*popped) return {};
    ChainWriter w(**popped);
    const uint32_t id = kEventTransportReset;  // struct virtio_vsock_event { le32 id; }
    const bool ok = w.WriteObj(id);
    ev_->PushUsed(*mem_, (*popped)->head, static_cast<uint32_t>(w.written()));
    ev_pushed_ = true;
    if (ok) --pending_events_;
    if (ok && pending_events_ == 0 && reset_sent_at_) {
      // The driver's refill is the sign it handled the reset: ask to hear of it even though
      // other event buffers are still pending (the driver refills one per event it handled).
      reset_avail_idx_ = ev_->DriverAvailIdx(*mem_);
      ev_->RequestNotifyOnNextAvail(*mem_);
    }
  }
  return {};
}

void VsockDevice::CheckResetAck() {
  if (!reset_sent_at_) return;
  const bool acked = reset_avail_idx_ && ev_ && ev_->DriverAvailIdx(*mem_) != *reset_avail_idx_;
  const auto waited = std::chrono::steady_clock::now() - *reset_sent_at_;
  if (!acked && waited < kResetAckTimeout) return;
  if (!acked)
    Log(LogLevel::kDebug, "vsock: the driver did not refill its event queue after a reset");
  reset_sent_at_.reset();
  reset_avail_idx_.reset();
  const itimerspec off{};
  ::timerfd_settime(reset_ack_timer_.get(), 0, &off, nullptr);
  std::vector<HeldConnect> held = std::move(held_connects_);
  held_connects_.clear();
  for (HeldConnect& h : held) {
    if (Live()) StartHostConnect(std::move(h.client), h.guest_port);
  }
  if (auto r = FlushReplies(); !r) Fail(r.error());
}

void VsockDevice::OnResetAckTimer() {
  std::lock_guard lock(mu_);
  uint64_t expirations;
  if (::read(reset_ack_timer_.get(), &expirations, sizeof expirations) < 0) return;
  CheckResetAck();
  MaybeInterrupt();
}

// ---- event loop ----

void VsockDevice::UpdateInterest(Key key) {
  auto it = conns_.find(key);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  uint32_t want = 0;
  if (!c.host_eof && !rx_starved_ && c.proto.SendCredit() > 0) want |= EPOLLIN;
  if (!c.out.empty()) want |= EPOLLOUT;
  // EPOLLHUP cannot be masked: after it, stay registered only while there is something to do.
  const bool reg = !(c.hup && want == 0);
  if (reg == c.registered && want == c.interest) return;
  if (reg && c.registered && loop_.Modify(c.fd.get(), want)) {
    c.interest = want;
    return;
  }
  if (c.registered) loop_.Remove(c.fd.get());
  c.registered = false;
  if (!reg) return;
  auto added = loop_.Add(c.fd.get(), want, [this, key](uint32_t ev) { OnConnEvent(key, ev); });
  if (!added) {
    Log(LogLevel::kWarn, "vsock: " + added.error().message);
    ResetConn(key);
    return;
  }
  c.registered = true;
  c.interest = want;
}

void VsockDevice::UpdateAllInterest() {
  std::vector<Key> keys;
  keys.reserve(conns_.size());
  for (const auto& [key, c] : conns_) keys.push_back(key);
  for (const Key& key : keys) UpdateInterest(key);
}

void VsockDevice::OnConnEvent(Key key, uint32_t events) {
  std::lock_guard lock(mu_);
  auto it = conns_.find(key);
  if (it == conns_.end() || !Live()) return;
  Conn& c = *it->second;
  if (events & EPOLLHUP) c.hup = true;
  Result<void> r;
  if (events & EPOLLERR) {
    ResetConn(key);
  } else {
    bool alive = true;
    if (events & (EPOLLOUT | EPOLLHUP)) alive = FlushOut(key);
    if (alive && (events & EPOLLIN)) r = ReadHost(key);
  }
  if (r) r = FlushReplies();
  if (!r) {
    Fail(r.error());
  } else if (rx_starved_) {
    UpdateAllInterest();
  } else {
    UpdateInterest(key);
  }
  MaybeInterrupt();
}

void VsockDevice::OnListener() {
  std::lock_guard lock(mu_);
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) return;
    if (pending_clients_.size() + conns_.size() >= kMaxConnections) continue;  // closed
    const int raw = fd.get();
    if (!loop_.Add(raw, EPOLLIN, [this, raw](uint32_t ev) { OnPending(raw, ev); })) continue;
    pending_clients_.emplace(raw, std::move(fd));
  }
}

void VsockDevice::OnPending(int fd, uint32_t events) {
  std::lock_guard lock(mu_);
  auto it = pending_clients_.find(fd);
  if (it == pending_clients_.end()) return;
  auto close_client = [&] {
    loop_.Remove(fd);
    pending_clients_.erase(fd);
  };
  char line[kMaxLine];
  const ssize_t n = ::recv(fd, line, sizeof line, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return close_client();
  const char* nl = static_cast<const char*>(std::memchr(line, '\n', static_cast<size_t>(n)));
  if (!nl) {
    if (static_cast<size_t>(n) == sizeof line || (events & (EPOLLHUP | EPOLLERR))) close_client();
    return;
  }
  const size_t len = static_cast<size_t>(nl - line) + 1;
  if (::recv(fd, line, len, MSG_DONTWAIT) != static_cast<ssize_t>(len)) return close_client();
  auto port = ParseConnectLine(std::string_view(line, len - 1));
  if (!port || !Live()) return close_client();
  UniqueFd client = std::move(it->second);
  loop_.Remove(fd);
  pending_clients_.erase(it);
  if (AwaitingResetAck()) {
    held_connects_.push_back({std::move(client), *port});
    const auto left = kResetAckTimeout - (std::chrono::steady_clock::now() - *reset_sent_at_);
    const auto ns =
        std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
    const itimerspec when{{0, 0}, {static_cast<time_t>(ns / 1000000000), ns % 1000000000}};
    ::timerfd_settime(reset_ack_timer_.get(), 0, &when, nullptr);
    return;
  }
  StartHostConnect(std::move(client), *port);
  if (auto r = FlushReplies(); !r) Fail(r.error());
  MaybeInterrupt();
}

void VsockDevice::StartHostConnect(UniqueFd client, uint32_t guest_port) {
  // The next free host port, 1024 upward (wrapping back to 1024).
  Key key{0, guest_port};
  for (size_t tries = 0;; ++tries) {
    if (tries > kMaxConnections) return;  // cannot happen: at most kMaxConnections in use
    const uint32_t port = next_host_port_;
    next_host_port_ = next_host_port_ == 0xffffffffu ? kFirstHostPort : next_host_port_ + 1;
    key.first = port;
    if (!conns_.contains(key)) break;
  }
  auto c = std::make_unique<Conn>(guest_cid_, key.first, guest_port);
  auto req = c->proto.Connect();
  if (!req) return;
  replies_.push_back(*req);
  c->fd = std::move(client);
  conns_.emplace(key, std::move(c));
  UpdateInterest(key);  // only EPOLLHUP until the guest answers
}

void VsockDevice::Fail(const Error& why) {
  broken_ = true;
  DropAll();
  replies_.clear();
  if (irq_) irq_->SignalNeedsReset(why);
}

void VsockDevice::MaybeInterrupt() {
  if (!mem_ || !irq_) return;
  bool signal = false;
  if (rx_pushed_ && rx_ && rx_->NeedsInterrupt(*mem_)) signal = true;
  if (tx_pushed_ && tx_ && tx_->NeedsInterrupt(*mem_)) signal = true;
  if (ev_pushed_ && ev_ && ev_->NeedsInterrupt(*mem_)) signal = true;
  rx_pushed_ = tx_pushed_ = ev_pushed_ = false;
  if (signal) irq_->SignalUsed();
}

}  // namespace uvm::devices::virtio::vsock
