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
#include "devices/virtio/virtio_spec.h"
#include "devices/virtio/vsock/unix_host_backend.h"

namespace uvm::devices::virtio::vsock {

VsockDevice::VsockDevice(uint64_t guest_cid, std::unique_ptr<VsockHostBackend> host,
                         EventLoop& loop)
    : guest_cid_(guest_cid), host_(std::move(host)), loop_(loop), buf_(kMaxPayload) {}

Result<std::shared_ptr<VsockDevice>> VsockDevice::Create(uint64_t guest_cid, std::string uds,
                                                         EventLoop& loop) {
  UVM_TRY(auto host, UnixHostBackend::Listen(std::move(uds)));
  return Create(guest_cid, std::move(host), loop);
}

Result<std::shared_ptr<VsockDevice>> VsockDevice::Create(uint64_t guest_cid,
                                                         std::unique_ptr<VsockHostBackend> host,
                                                         EventLoop& loop) {
  // 5.10.4: 0, 1 and 2 are reserved; Linux also reserves U32_MAX (VMADDR_CID_ANY) and uses 32 bits.
  if (guest_cid < 3 || guest_cid >= 0xffffffffull) {
    return Err(ErrorCode::kInvalidArgument,
               "vsock: invalid guest CID " + std::to_string(guest_cid));
  }
  std::shared_ptr<VsockDevice> dev(new VsockDevice(guest_cid, std::move(host), loop));
  VsockDevice* raw = dev.get();  // the device removes its callbacks before it dies
  UVM_CHECK(dev->host_->Start(
      loop, {[raw](UniqueFd stream, uint32_t port) { raw->OnHostConnect(std::move(stream), port); },
             [raw](size_t pending) {
               std::lock_guard lock(raw->mu_);
               return pending + raw->conns_.size() < kMaxConnections;
             }}));
  dev->reset_ack_timer_.Reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!dev->reset_ack_timer_.valid()) return ErrnoErr("vsock: timerfd_create");
  UVM_CHECK(
      loop.Add(dev->reset_ack_timer_.get(), EPOLLIN, [raw](uint32_t) { raw->OnResetAckTimer(); }));
  return dev;
}

VsockDevice::~VsockDevice() {
  {
    std::lock_guard lock(mu_);
    DropAll();
    if (reset_ack_timer_.valid()) loop_.Remove(reset_ack_timer_.get());
  }
  host_.reset();  // stops listening: no more host connections
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

// ---- Connections ----

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

void VsockDevice::OnHostConnect(UniqueFd client, uint32_t port) {
  std::lock_guard lock(mu_);
  if (!Live()) return;  // closed: the device is not running
  if (AwaitingResetAck()) {
    held_connects_.push_back({std::move(client), port});
    const auto left = kResetAckTimeout - (std::chrono::steady_clock::now() - *reset_sent_at_);
    const auto ns =
        std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
    const itimerspec when{{0, 0}, {static_cast<time_t>(ns / 1000000000), ns % 1000000000}};
    ::timerfd_settime(reset_ack_timer_.get(), 0, &when, nullptr);
    return;
  }
  StartHostConnect(std::move(client), port);
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
