#include "devices/virtio/net/net_device.h"

#include <limits.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "base/log.h"
#include "devices/virtio/net/net_header.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::net {
namespace {

constexpr uint64_t kOffered = Bit(kNetFCsum) | Bit(kNetFGuestCsum) | Bit(kNetFMac) |
                              Bit(kNetFGuestTso4) | Bit(kNetFGuestTso6) | Bit(kNetFHostTso4) |
                              Bit(kNetFHostTso6) | Bit(kNetFMrgRxbuf) | Bit(kNetFStatus) |
                              Bit(kFeatureIndirectDesc) | Bit(kFeatureEventIdx);

// 5.1.3.1 "Feature bit requirements": each offload needs its checksum feature.
Result<void> CheckFeatureDependencies(uint64_t f) {
  auto has = [f](unsigned bit) { return (f & Bit(bit)) != 0; };
  if ((has(kNetFGuestTso4) || has(kNetFGuestTso6)) && !has(kNetFGuestCsum)) {
    return Err("virtio-net: driver took GUEST_TSO without GUEST_CSUM (5.1.3.1)");
  }
  if ((has(kNetFHostTso4) || has(kNetFHostTso6)) && !has(kNetFCsum)) {
    return Err("virtio-net: driver took HOST_TSO without CSUM (5.1.3.1)");
  }
  return {};
}

// Copies the first `len` bytes spread over `iov` into `out` (the iovecs hold at least that).
void GatherPrefix(const std::vector<iovec>& iov, void* out, size_t len) {
  auto* dst = static_cast<uint8_t*>(out);
  for (size_t i = 0; i < iov.size() && len > 0; ++i) {
    const size_t piece = std::min(len, iov[i].iov_len);
    std::memcpy(dst, iov[i].iov_base, piece);
    dst += piece;
    len -= piece;
  }
}

}  // namespace

NetDevice::NetDevice(std::unique_ptr<NetBackend> backend, const MacAddress& mac, EventLoop& loop)
    : backend_(std::move(backend)),
      mac_(mac),
      loop_(loop),
      rx_buf_(sizeof(VirtioNetHdr) + kMaxFrameBytes + 1) {}

Result<std::shared_ptr<NetDevice>> NetDevice::Create(std::unique_ptr<NetBackend> backend,
                                                     const MacAddress& mac, EventLoop& loop) {
  if (!backend || backend->fd() < 0) return Err("virtio-net: no backend");
  return std::shared_ptr<NetDevice>(new NetDevice(std::move(backend), mac, loop));
}

NetDevice::~NetDevice() {
  std::lock_guard lock(mu_);
  if (interest_) loop_.Remove(backend_->fd());
}

uint32_t NetDevice::DeviceType() const { return kDeviceIdNet; }
uint64_t NetDevice::Features() const { return kOffered; }

void NetDevice::ReadConfig(uint64_t offset, std::span<uint8_t> data) {
  // struct virtio_net_config (5.1.4): mac[6], le16 status; the rest needs features not offered.
  uint8_t config[8];
  std::memcpy(config, mac_.data(), 6);
  const uint16_t status = kNetSLinkUp;
  std::memcpy(config + 6, &status, 2);
  ReadConfigBytes(config, offset, data);
}

// 5.1.4.2: the driver must not write the config space in virtio 1.x; writes are ignored.
void NetDevice::WriteConfig(uint64_t, std::span<const uint8_t>) {}

Result<void> NetDevice::Activate(const GuestMemory& mem, uint64_t features, std::span<Queue> queues,
                                 InterruptSink& irq) {
  std::lock_guard lock(mu_);
  UVM_CHECK(CheckFeatureDependencies(features));
  UVM_CHECK(Context(backend_->SetGuestOffloads(features), "virtio-net"));
  auto ready = [&](size_t i) { return i < queues.size() && queues[i].state().ready; };
  mem_ = &mem;
  irq_ = &irq;
  rx_ = ready(kRxQueue) ? &queues[kRxQueue] : nullptr;
  tx_ = ready(kTxQueue) ? &queues[kTxQueue] : nullptr;
  features_ = features;
  active_ = true;
  broken_ = false;
  rx_starved_ = false;
  UpdateInterest();
  return {};
}

void NetDevice::Reset() {
  std::lock_guard lock(mu_);
  active_ = false;
  broken_ = false;
  UpdateInterest();  // stops polling the backend before the queues go away
  DropRxChains();
  tx_waiting_.reset();
  tx_retry_ = false;
  rx_starved_ = false;
  rx_pushed_ = tx_pushed_ = false;
  mem_ = nullptr;
  irq_ = nullptr;
  rx_ = tx_ = nullptr;
  features_ = 0;
  if (auto r = backend_->SetGuestOffloads(0); !r) Log(LogLevel::kWarn, r.error().message);
}

Result<void> NetDevice::ProcessQueue(size_t index) {
  std::lock_guard lock(mu_);
  if (!Live()) return {};
  Result<void> r;
  if (index == kRxQueue) {
    rx_starved_ = false;  // the driver posted buffers
    r = ProcessRx();
  } else if (index == kTxQueue) {
    r = ProcessTx();
  }
  if (!r) {
    broken_ = true;  // the transport sets DEVICE_NEEDS_RESET
    DropRxChains();
    tx_waiting_.reset();
  }
  UpdateInterest();
  MaybeInterrupt();
  return r;
}

Result<void> NetDevice::Quiesce() {
  std::lock_guard lock(mu_);
  if (!Live()) return {};  // a broken queue dropped its chains already; it needs a reset
  // Only one of spare_rx_ and rx_held_ is in use (MRG_RXBUF or not), each in pop order.
  std::vector<uint16_t> rx_heads;
  if (spare_rx_) rx_heads.push_back(spare_rx_->head);
  for (const Chain& c : rx_held_) rx_heads.push_back(c.head);
  if (!rx_heads.empty()) {
    UVM_CHECK(Context(rx_->Unpop(*mem_, rx_heads), "virtio-net receive queue"));
    spare_rx_.reset();
    rx_held_.clear();
    rx_held_bytes_ = 0;
  }
  // Later TX chains stay in the ring behind tx_waiting_, so it is the last one popped.
  if (tx_waiting_) {
    const uint16_t head = tx_waiting_->head;
    UVM_CHECK(Context(tx_->Unpop(*mem_, std::span(&head, 1)), "virtio-net transmit queue"));
    tx_waiting_.reset();
    tx_retry_ = true;
  }
  UpdateInterest();
  return {};
}

NetStats NetDevice::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

uint32_t NetDevice::backend_interest() const {
  std::lock_guard lock(mu_);
  return interest_;
}

// ---- TX: guest -> backend ----

Result<void> NetDevice::ProcessTx() {
  tx_retry_ = false;  // the ring is being served; EAGAIN below sets tx_waiting_ again
  if (!tx_) return {};
  for (;;) {
    std::optional<Chain> chain = std::move(tx_waiting_);
    tx_waiting_.reset();
    if (!chain) {
      auto popped = tx_->PopChain(*mem_);
      if (!popped) return tl::unexpected<Error>(popped.error());
      if (!*popped) return {};
      chain = std::move(*popped);
    }
    if (!SendFrame(*chain)) {
      tx_waiting_ = std::move(chain);  // EPOLLOUT brings it back; later chains wait in the ring
      return {};
    }
    // TX buffers are read-only for the device: nothing written (5.1.6.2).
    tx_->PushUsed(*mem_, chain->head, 0);
    tx_pushed_ = true;
  }
}

bool NetDevice::SendFrame(const Chain& chain) {
  auto frame = ParseTxChain(chain, features_);
  if (!frame) {
    ++stats_.tx_dropped;
    Log(LogLevel::kDebug, "virtio-net: dropped TX packet: " + frame.error().message);
    return true;
  }
  if (backend_failed_ || frame->data.size() + 1 > IOV_MAX) {
    ++stats_.tx_dropped;
    return true;
  }
  std::vector<iovec> iov;
  iov.reserve(frame->data.size() + 1);
  iov.push_back({&frame->hdr, sizeof frame->hdr});
  for (auto span : frame->data) iov.push_back({span.data(), span.size()});
  for (;;) {
    const ssize_t n = ::writev(backend_->fd(), iov.data(), static_cast<int>(iov.size()));
    if (n >= 0) {
      ++stats_.tx_frames;
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return false;
    // EIO: the tap is down; EINVAL: the kernel refused the header. The packet is lost, as on a
    // real link.
    ++stats_.tx_dropped;
    Log(LogLevel::kDebug, "virtio-net: " + backend_->Describe() + " write: " + strerror(errno));
    return true;
  }
}

// ---- RX: backend -> guest ----

Result<void> NetDevice::ProcessRx() {
  if (!rx_ || backend_failed_) return {};
  if (features_ & Bit(kNetFMrgRxbuf)) return ProcessRxMergeable();
  for (int i = 0; i < kMaxRxFramesPerWakeup; ++i) {
    if (!spare_rx_) {
      auto popped = rx_->PopChain(*mem_);
      if (!popped) return tl::unexpected<Error>(popped.error());
      if (!*popped) {
        rx_starved_ = true;  // resumed by the driver's next RX kick
        return {};
      }
      if ((*popped)->writable_bytes() < sizeof(VirtioNetHdr) + kEthHeaderBytes) {
        // Cannot hold any frame (5.1.6.3.1 asks for more): give it back empty.
        rx_->PushUsed(*mem_, (*popped)->head, 0);
        rx_pushed_ = true;
        ++stats_.rx_dropped;
        continue;
      }
      spare_rx_ = std::move(*popped);
    }
    // A chain that can hold the largest frame plus the byte that shows truncation (Linux's "big
    // packets" buffers with GUEST_TSO: about 17 pages) is read into directly, saving a copy of
    // every frame; smaller ones go through rx_buf_ so a frame that does not fit is seen whole.
    std::vector<iovec>& iov = rx_iov_;  // reused: no allocation per frame
    iov.clear();
    if (spare_rx_->writable_bytes() >= rx_buf_.size()) {
      ChainWriter(*spare_rx_).TakeIovecs(rx_buf_.size(), iov);
      if (iov.size() > IOV_MAX) iov.clear();
    }
    const bool direct = !iov.empty();
    if (!direct) iov.push_back({rx_buf_.data(), rx_buf_.size()});
    const auto read = ReadFrame(iov);
    if (!read) return {};
    const size_t len = *read;
    if (len < sizeof(VirtioNetHdr) + kEthHeaderBytes || len == rx_buf_.size()) {
      ++stats_.rx_dropped;  // runt, or larger than any frame (truncated)
      continue;
    }
    // The header is copied out once (from guest memory on the direct path: the guest could
    // change it meanwhile) and only the sanitized copy goes to the driver.
    VirtioNetHdr from_backend;
    if (direct) {
      GatherPrefix(iov, &from_backend, sizeof from_backend);
    } else {
      std::memcpy(&from_backend, rx_buf_.data(), sizeof from_backend);
    }
    auto hdr = SanitizeRxHeader(from_backend, features_);
    if (!hdr || spare_rx_->writable_bytes() < len) {
      ++stats_.rx_dropped;  // the chain stays for the next frame
      continue;
    }
    ChainWriter w(*spare_rx_);
    w.WriteObj(*hdr);
    if (direct) {
      w.Skip(len - sizeof(VirtioNetHdr));  // already in place
    } else {
      w.Write(std::span<const uint8_t>(rx_buf_.data() + sizeof(VirtioNetHdr),
                                       len - sizeof(VirtioNetHdr)));
    }
    rx_->PushUsed(*mem_, spare_rx_->head, static_cast<uint32_t>(w.written()));
    rx_pushed_ = true;
    ++stats_.rx_frames;
    spare_rx_.reset();
  }
  return {};
}

std::optional<size_t> NetDevice::ReadFrame(const std::vector<iovec>& iov) {
  const ssize_t n = ::readv(backend_->fd(), iov.data(), static_cast<int>(iov.size()));
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return std::nullopt;
    Log(LogLevel::kWarn, "virtio-net: " + backend_->Describe() + " read: " + strerror(errno) +
                             "; no more packets from it");
    backend_failed_ = true;
    return std::nullopt;
  }
  if (n == 0) {  // a socket backend whose peer left; a tap never returns 0
    Log(LogLevel::kWarn, "virtio-net: " + backend_->Describe() + " closed");
    backend_failed_ = true;
    return std::nullopt;
  }
  return static_cast<size_t>(n);
}

// 5.1.6.4: a frame spans as many buffers as it needs; the first one's header says how many.
Result<void> NetDevice::ProcessRxMergeable() {
  for (int i = 0; i < kMaxRxFramesPerWakeup; ++i) {
    // Hold chains until they can take the largest frame plus the byte that shows truncation.
    while (rx_held_bytes_ < rx_buf_.size()) {
      auto popped = rx_->PopChain(*mem_);
      if (!popped) return tl::unexpected<Error>(popped.error());
      if (!*popped) break;
      if ((*popped)->writable_bytes() < sizeof(VirtioNetHdr)) {
        // 5.1.6.3.1: every buffer must hold at least the header; give it back empty.
        rx_->PushUsed(*mem_, (*popped)->head, 0);
        rx_pushed_ = true;
        ++stats_.rx_dropped;
        continue;
      }
      rx_held_bytes_ += (*popped)->writable_bytes();
      rx_held_.push_back(std::move(**popped));
    }
    if (rx_pending_len_ > 0) {  // a frame read earlier waits for buffers
      if (rx_pending_len_ > rx_held_bytes_) {
        rx_starved_ = true;  // resumed by the driver's next RX kick
        return {};
      }
      const size_t len = std::exchange(rx_pending_len_, 0);
      UVM_CHECK(DeliverMergeable(len, false));
      continue;
    }
    if (rx_held_.empty()) {
      rx_starved_ = true;
      return {};
    }
    // Straight into the held chains when they can take any frame, else through rx_buf_.
    std::vector<iovec>& iov = rx_iov_;  // reused: no allocation per frame
    iov.clear();
    if (rx_held_bytes_ >= rx_buf_.size()) {
      size_t want = rx_buf_.size();
      for (Chain& chain : rx_held_) {
        if (want == 0) break;
        const size_t take = static_cast<size_t>(std::min<uint64_t>(want, chain.writable_bytes()));
        ChainWriter(chain).TakeIovecs(take, iov);
        want -= take;
      }
      if (iov.size() > IOV_MAX) iov.clear();
    }
    const bool in_place = !iov.empty();
    if (!in_place) iov.push_back({rx_buf_.data(), rx_buf_.size()});
    const auto read = ReadFrame(iov);
    if (!read) return {};
    const size_t len = *read;
    if (len < sizeof(VirtioNetHdr) + kEthHeaderBytes || len == rx_buf_.size()) {
      ++stats_.rx_dropped;  // runt, or larger than any frame (truncated); the chains stay
      continue;
    }
    if (!in_place && len > rx_held_bytes_) {
      rx_pending_len_ = len;  // waits in rx_buf_ for more buffers
      rx_starved_ = true;
      return {};
    }
    UVM_CHECK(DeliverMergeable(len, in_place));
  }
  return {};
}

Result<void> NetDevice::DeliverMergeable(size_t len, bool in_place) {
  // The header is copied out once (from guest memory when the frame was read in place, through
  // the iovecs of that read: the guest could change it meanwhile) and only the sanitized copy goes
  // to the driver.
  VirtioNetHdr from_backend;
  if (in_place) {
    GatherPrefix(rx_iov_, &from_backend, sizeof from_backend);
  } else {
    std::memcpy(&from_backend, rx_buf_.data(), sizeof from_backend);
  }
  auto hdr = SanitizeRxHeader(from_backend, features_);
  if (!hdr) {
    ++stats_.rx_dropped;  // the held chains serve the next frame
    return {};
  }
  std::vector<Queue::UsedElem>& used = rx_used_;  // reused: no allocation per frame
  used.clear();
  size_t left = len;
  for (Chain& chain : rx_held_) {
    if (left == 0) break;
    const size_t here = static_cast<size_t>(std::min<uint64_t>(left, chain.writable_bytes()));
    if (!in_place) {
      ChainWriter(chain).Write(std::span<const uint8_t>(rx_buf_.data() + (len - left), here));
    }
    used.push_back({chain.head, static_cast<uint32_t>(here)});
    left -= here;
  }
  if (left > 0) return Err("virtio-net: frame larger than the held RX buffers");  // cannot happen
  hdr->num_buffers = static_cast<uint16_t>(used.size());
  ChainWriter(rx_held_.front()).WriteObj(*hdr);
  rx_->PushUsedMany(*mem_, used);
  rx_pushed_ = true;
  ++stats_.rx_frames;
  for (size_t k = 0; k < used.size(); ++k) {
    rx_held_bytes_ -= rx_held_.front().writable_bytes();
    rx_held_.pop_front();
  }
  return {};
}

// ---- event loop ----

void NetDevice::UpdateInterest() {
  uint32_t want = 0;
  if (Live() && !backend_failed_) {
    if (rx_ && !rx_starved_) want |= EPOLLIN;
    if (tx_waiting_ || tx_retry_) want |= EPOLLOUT;
  }
  if (want == interest_) return;
  const int fd = backend_->fd();
  if (interest_) loop_.Remove(fd);
  interest_ = 0;
  if (!want) return;
  auto added = loop_.Add(fd, want, [this](uint32_t events) { OnBackendEvent(events); });
  if (!added) {
    Log(LogLevel::kWarn, "virtio-net: " + added.error().message);
    backend_failed_ = true;
    return;
  }
  interest_ = want;
}

void NetDevice::OnBackendEvent(uint32_t events) {
  std::lock_guard lock(mu_);
  if (!Live()) return;
  if (events & EPOLLERR) {
    // A tap whose interface was deleted reports EPOLLERR for good: stop polling it.
    Log(LogLevel::kWarn, "virtio-net: " + backend_->Describe() + " failed; no more packets");
    backend_failed_ = true;
  }
  Result<void> r;
  if (events & EPOLLOUT) r = ProcessTx();
  if (r && (events & (EPOLLIN | EPOLLHUP))) r = ProcessRx();
  if (!r) Fail(r.error());
  UpdateInterest();
  MaybeInterrupt();
}

void NetDevice::DropRxChains() {
  spare_rx_.reset();
  rx_held_.clear();
  rx_held_bytes_ = 0;
  rx_pending_len_ = 0;
}

void NetDevice::Fail(const Error& why) {
  broken_ = true;
  DropRxChains();
  tx_waiting_.reset();
  if (irq_) irq_->SignalNeedsReset(why);
}

void NetDevice::MaybeInterrupt() {
  if (!mem_ || !irq_) return;
  bool signal = false;
  if (rx_pushed_ && rx_ && rx_->NeedsInterrupt(*mem_)) signal = true;
  if (tx_pushed_ && tx_ && tx_->NeedsInterrupt(*mem_)) signal = true;
  rx_pushed_ = tx_pushed_ = false;
  if (signal) irq_->SignalUsed();
}

}  // namespace uvm::devices::virtio::net
