// The virtio-net device (virtio 1.2, 5.1): one RX/TX queue pair bridged to a NetBackend (a tap).
//
// Queues: receiveq1 = 0, transmitq1 = 1; no control queue, no multiqueue. Config space: mac
// (VIRTIO_NET_F_MAC) and status (VIRTIO_NET_F_STATUS, link always up). Offered features:
// CSUM/GUEST_CSUM, HOST_TSO4/6 and GUEST_TSO4/6 (the tap does the real work: uvm only checks the
// header and passes it on), MRG_RXBUF, indirect descriptors and EVENT_IDX.
//
// TX (driver -> host): each chain is parsed (net_header.h; a bad header drops the packet, the chain
// is returned with len 0 and counted in tx_dropped) and written to the backend with writev
// straight from guest memory, after the private copy of the header. When the backend is full
// (EAGAIN) the chain is kept, the rest stay in the ring, and the device waits for EPOLLOUT.
//
// RX (host -> driver): an RX chain is taken first and only then is one frame read from the backend:
// straight into the chain's buffers when they can hold the largest frame plus one byte (so a
// truncated frame is still seen: Linux's GSO "big packets" buffers qualify), else into a host
// buffer, then copied (a read straight into a smaller chain could not tell a truncated frame).
// Either way the header the driver sees is a sanitized private copy.
// With MRG_RXBUF (5.1.6.4) the driver posts small buffers (Linux: about 1.5-4 KiB each, instead of
// 64 KiB "big packets" chains even for an ACK) and a frame spans as many as it needs: the device
// holds chains until together they can take the largest frame plus one byte, reads straight into
// them, and returns the ones the frame filled together (PushUsedMany) with num_buffers set. When
// the ring runs dry first, the frame is read into the host buffer and waits there until enough
// buffers arrive. With no RX buffer the backend
// fd is not polled for input at all until the driver posts buffers and kicks the queue: frames wait
// in the tap's queue (where the kernel drops them when it is full), and the event loop never spins.
// At most kMaxRxFramesPerWakeup frames per wake-up, so a busy tap cannot starve the loop's other
// fds (epoll is level-triggered: the rest come next round).
//
// A queue error (a bad ring or descriptor) marks the device DEVICE_NEEDS_RESET; a backend error
// other than EAGAIN is logged and the backend is no longer polled (TX packets are then dropped).
//
// Threads and locking: as in block_device.h, the device's mutex mu_ is taken by every entry point;
// lock order is transport mutex, then mu_. The backend fd is (un)registered with the EventLoop
// from whichever thread changes the interest (Reset() runs on a vCPU thread); EventLoop is
// thread-safe for Add/Remove.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "base/event_loop.h"
#include "base/guest_memory.h"
#include "base/result.h"
#include "devices/virtio/chain.h"
#include "devices/virtio/device.h"
#include "devices/virtio/net/backend.h"
#include "devices/virtio/net/net_config.h"
#include "devices/virtio/queue.h"

namespace uvm::devices::virtio::net {

struct NetStats {
  uint64_t tx_frames = 0;   // written to the backend
  uint64_t tx_dropped = 0;  // bad header or chain, or a backend write error
  uint64_t rx_frames = 0;   // delivered to the driver
  uint64_t rx_dropped = 0;  // did not fit the RX buffer, or a header the driver cannot take
};

class NetDevice final : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  static constexpr size_t kRxQueue = 0;
  static constexpr size_t kTxQueue = 1;
  static constexpr int kMaxRxFramesPerWakeup = 64;

  // `loop` must outlive the device.
  static Result<std::shared_ptr<NetDevice>> Create(std::unique_ptr<NetBackend> backend,
                                                   const MacAddress& mac, EventLoop& loop);
  ~NetDevice() override;
  NetDevice(const NetDevice&) = delete;
  NetDevice& operator=(const NetDevice&) = delete;

  // VirtioDevice.
  uint32_t DeviceType() const override;
  uint64_t Features() const override;
  size_t NumQueues() const override { return 2; }
  uint16_t QueueMaxSize(size_t) const override { return kQueueSize; }
  void ReadConfig(uint64_t offset, std::span<uint8_t> data) override;
  void WriteConfig(uint64_t offset, std::span<const uint8_t> data) override;
  Result<void> Activate(const GuestMemory& mem, uint64_t features, std::span<Queue> queues,
                        InterruptSink& irq) override;
  void Reset() override;
  Result<void> ProcessQueue(size_t index) override;
  // Gives back (Queue::Unpop) the RX chains taken and not filled (the spare chain, or the held
  // MRG_RXBUF buffers) and a TX chain waiting for room in the backend, which is then retried
  // from the ring when the backend has room. A frame waiting in rx_buf_ for buffers stays there:
  // it was never in guest memory, so a snapshot does not carry it (a clone has lost one frame,
  // as a link may), while this device, if the VM resumes, still delivers it.
  Result<void> Quiesce() override;

  // For tests and diagnostics.
  NetStats stats() const;
  uint32_t backend_interest() const;  // the epoll events the device waits for on the backend
  const MacAddress& mac() const { return mac_; }

 private:
  NetDevice(std::unique_ptr<NetBackend> backend, const MacAddress& mac, EventLoop& loop);

  bool Live() const { return active_ && !broken_; }
  void OnBackendEvent(uint32_t events);
  // mu_ held for everything below.
  Result<void> ProcessTx();
  Result<void> ProcessRx();
  Result<void> ProcessRxMergeable();
  // One frame from the backend into `iov`: its length, or nullopt when none is waiting (EAGAIN)
  // or the backend failed (logged; it is no longer polled).
  std::optional<size_t> ReadFrame(const std::vector<iovec>& iov);
  // Delivers `len` bytes already in the held chains (read straight into them) or, from rx_buf_,
  // copies them in first. A header the driver cannot take drops the frame (counted).
  Result<void> DeliverMergeable(size_t len, bool in_place);
  void DropRxChains();  // forgets held chains and any pending frame (reset, broken queue)
  // Writes one parsed TX chain; false if the backend is full (the chain must be kept).
  bool SendFrame(const Chain& chain);
  void UpdateInterest();
  void Fail(const Error& why);
  void MaybeInterrupt();

  const std::unique_ptr<NetBackend> backend_;
  const MacAddress mac_;
  EventLoop& loop_;

  mutable std::mutex mu_;
  const GuestMemory* mem_ = nullptr;
  InterruptSink* irq_ = nullptr;
  Queue* rx_ = nullptr;
  Queue* tx_ = nullptr;
  uint64_t features_ = 0;
  bool active_ = false;
  bool broken_ = false;
  bool backend_failed_ = false;
  bool rx_starved_ = false;  // no RX buffer: the backend is not polled for input
  bool rx_pushed_ = false;
  bool tx_pushed_ = false;
  std::optional<Chain> spare_rx_;    // an RX chain taken but not yet filled
  std::deque<Chain> rx_held_;        // MRG_RXBUF: chains taken, in order, not yet filled
  uint64_t rx_held_bytes_ = 0;       // their writable bytes
  size_t rx_pending_len_ = 0;        // MRG_RXBUF: a frame in rx_buf_ waiting for buffers
  std::optional<Chain> tx_waiting_;  // a TX chain the backend had no room for (EAGAIN)
  bool tx_retry_ = false;            // Quiesce() gave tx_waiting_ back: pop it again on EPOLLOUT
  uint32_t interest_ = 0;            // registered with loop_ iff non-zero
  NetStats stats_;
  std::vector<uint8_t> rx_buf_;
  std::vector<iovec> rx_iov_;             // scratch for the RX read of one frame
  std::vector<Queue::UsedElem> rx_used_;  // scratch: the buffers of one mergeable frame  // one
                                          // frame with its header, plus one byte to see truncation
};

}  // namespace uvm::devices::virtio::net
