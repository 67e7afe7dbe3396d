// The virtio-vsock device (virtio 1.2, 5.10): guest stream sockets bridged to host unix sockets.
//
// Queues: rx = 0 (device -> driver packets), tx = 1 (driver -> device packets), event = 2
// (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET). Config space: le64 guest_cid. The protocol itself (state
// machine and credit accounting) lives in connection.h; this class carries out its Actions with
// sockets and queues.
//
// Host side (host_backend.h; uvm's is unix sockets, unix_host_backend.h):
// - A host stream asks the backend for guest port <port>; the device opens a connection to it
//   from a host port allocated from 1024 upward. When the guest answers RESPONSE the stream gets
//   the backend's accepted prefix ("OK <hostport>\n") and bytes flow both ways; when it answers
//   RST the stream is closed.
// - A guest connecting to host port P gets the backend's stream for P; if there is none the guest
//   gets RST.
//
// Flow control: guest payload is written to the socket; what the socket does not take at once is
// buffered (at most buf_alloc bytes, the guest's credit) and only counted as consumed
// (OnHostConsumed) once written, so a slow host reader stops the guest. Host -> guest, the socket
// is read only up to the guest's credit and only while the RX queue has buffers; with no RX buffer
// the device stops reading every socket until the driver posts some (back-pressure). Control
// replies wait in a small queue for RX buffers; when it is full the TX queue is not processed.
//
// Threads and locking: as in block_device.h, the device has its own mutex mu_ taken by every entry
// point (transport calls, event-loop callbacks, SendTransportReset). Lock order: transport mutex,
// then mu_. All socket fds are registered with the EventLoop given to Create(), which is not
// thread-safe: entry points that open or close sockets (ProcessQueue, Reset, SendTransportReset)
// must run on the event loop's thread (or while it is not running).
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/event_loop.h"
#include "base/guest_memory.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "devices/virtio/chain.h"
#include "devices/virtio/device.h"
#include "devices/virtio/queue.h"
#include "devices/virtio/vsock/connection.h"
#include "devices/virtio/vsock/host_backend.h"
#include "devices/virtio/vsock/packet.h"

namespace uvm::devices::virtio::vsock {

// 5.10.3: VIRTIO_VSOCK_F_STREAM.
inline constexpr unsigned kVsockFStream = 0;
// 5.10.6.7: struct virtio_vsock_event id.
inline constexpr uint32_t kEventTransportReset = 0;

class VsockDevice final : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  static constexpr size_t kRxQueue = 0;
  static constexpr size_t kTxQueue = 1;
  static constexpr size_t kEventQueue = 2;
  // The receive buffer the host offers each connection (Linux's default socket buffer).
  static constexpr uint32_t kBufAlloc = 256 * 1024;
  static constexpr uint32_t kFirstHostPort = 1024;
  static constexpr std::chrono::milliseconds kResetAckTimeout{500};
  static constexpr size_t kMaxPendingReplies = 64;
  static constexpr size_t kMaxConnections = 1024;
  // Payload spans of one packet sent with one sendmsg (a packet's chain has at most this many).
  static constexpr size_t kMaxDeliverSpans = 64;

  // With `host` as its host side. `loop` must outlive the device.
  static Result<std::shared_ptr<VsockDevice>> Create(uint64_t guest_cid,
                                                     std::unique_ptr<VsockHostBackend> host,
                                                     EventLoop& loop);
  // With unix sockets as its host side, listening on `uds` (a stale socket file there is
  // replaced).
  static Result<std::shared_ptr<VsockDevice>> Create(uint64_t guest_cid, std::string uds,
                                                     EventLoop& loop);
  ~VsockDevice() override;

  VsockDevice(const VsockDevice&) = delete;
  VsockDevice& operator=(const VsockDevice&) = delete;

  // VirtioDevice.
  uint32_t DeviceType() const override;
  uint64_t Features() const override;
  size_t NumQueues() const override { return 3; }
  uint16_t QueueMaxSize(size_t) const override { return kQueueSize; }
  void ReadConfig(uint64_t offset, std::span<uint8_t> data) override;
  void WriteConfig(uint64_t offset, std::span<const uint8_t> data) override;
  Result<void> Activate(const GuestMemory& mem, uint64_t features, std::span<Queue> queues,
                        InterruptSink& irq) override;
  void Reset() override;
  Result<void> ProcessQueue(size_t index) override;
  // Gives back (Queue::Unpop) the RX chains taken and not used (spare_rx_), the only guest chains
  // the device ever holds: TX chains are answered as they are read, event chains as they are
  // filled. Nothing host-side is touched: connections, buffered bytes, control replies and a
  // pending reset event stay with this device and go on if the VM resumes. A snapshot carries
  // none of them; a device restored from it starts with no connection, and the caller sends
  // SendTransportReset() so the guest drops the sockets it still believes open (5.10.6.7).
  Result<void> Quiesce() override;

  // Drops every connection (closing the host sockets, no RST: the driver resets its sockets
  // itself) and posts VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue (5.10.6.7), at once or
  // as soon as the driver posts an event buffer. Used after restoring a snapshot. Host ports
  // start again at a random point: until the driver has handled the event it still holds the
  // sockets of before the reset (a template's proof-of-life connection, from this device's
  // predecessor, which counted from kFirstHostPort too), and a new connection with the same
  // ports would be refused as a duplicate (seen in clones: "refused vsock port 1024").
  void SendTransportReset();

  // After the VM has stopped (no more guest activity): takes the TX chains the guest queued but
  // the loop had not read (its notification may still be unread when the VM stops), then writes
  // out what the guest sent that the host sockets have not taken yet, so a guest that writes, or
  // accepts a connection, and powers off at once loses nothing.
  // Gives up on the sockets whose readers took nothing for `stall_limit`, and after `total_limit`
  // in all; what is left then is dropped with a warning.
  void DrainToHost(std::chrono::milliseconds stall_limit, std::chrono::milliseconds total_limit);

  // For tests and diagnostics.
  uint64_t guest_cid() const { return guest_cid_; }
  size_t connection_count() const;
  size_t pending_replies() const;

 private:
  using Key = std::pair<uint32_t, uint32_t>;  // (host port, guest port)

  struct Conn {
    Conn(uint64_t cid, uint32_t host_port, uint32_t guest_port)
        : proto(cid, host_port, guest_port, kBufAlloc) {}
    Connection proto;
    UniqueFd fd;
    std::string out;           // bytes for the socket that it has not taken yet
    size_t out_uncounted = 0;  // leading bytes of `out` that are ours (the OK line), not payload
    bool host_eof = false;     // the socket reached EOF; SHUTDOWN(SEND) was sent
    bool guest_eof = false;    // the guest will send no more: SHUT_WR once `out` drains
    bool wr_shut = false;
    bool draining = false;  // the guest closed; only `out` is left to write, then it is dropped
    bool hup = false;       // EPOLLHUP seen: only stay registered while reading or writing
    bool registered = false;
    uint32_t interest = 0;
  };

  VsockDevice(uint64_t guest_cid, std::unique_ptr<VsockHostBackend> host, EventLoop& loop);

  bool Live() const { return active_ && !broken_; }
  // Event-loop callbacks.
  // The backend's: a host stream asks for guest port `port`.
  void OnHostConnect(UniqueFd client, uint32_t port);
  void OnResetAckTimer();
  void OnConnEvent(Key key, uint32_t events);

  // mu_ held for everything below.
  Result<void> ProcessTx();
  void HandleTxChain(const Chain& chain);
  void GuestConnect(const VsockPacket& pkt);
  void StartHostConnect(UniqueFd client, uint32_t guest_port);
  Result<void> ReadHost(Key key);  // socket -> guest
  // Reads the connections whose credit a TX packet reopened (`reopened_`) at once.
  Result<void> ReadReopened();
  // Guest payload -> socket, sent at once when nothing is buffered, the rest buffered in `out`;
  // false if the connection was reset.
  bool SendOrBuffer(Key key, std::span<const std::span<uint8_t>> payload);
  bool FlushOut(Key key);   // guest bytes -> socket; false if the connection was reset
  void ResetConn(Key key);  // RST to the guest, then DropConn
  void DropConn(Key key);   // closes the socket, forgets the connection
  void DropAll();
  void UpdateInterest(Key key);
  void UpdateAllInterest();
  // The next RX chain with room for at least a header, into `out`, spares first; smaller ones
  // are handed back empty. False when the ring is empty (PopChainInto() then asked the driver
  // for a kick).
  Result<bool> PopRx(Chain& out);
  Result<void> FlushReplies();
  Result<void> FlushEvents();
  // After a transport reset, host CONNECTs wait until the driver has handled the reset event:
  // until then it still holds the sockets of before (a template's), and may reset a connection
  // made in the meantime as one of them. The sign is the driver making an event buffer available
  // again (Linux refills the event queue after handling an event); a driver that never does is
  // waited for kResetAckTimeout.
  bool AwaitingResetAck() const { return reset_sent_at_.has_value(); }
  void CheckResetAck();
  void Fail(const Error& why);  // a broken queue found outside ProcessQueue()
  void MaybeInterrupt();

  const uint64_t guest_cid_;
  std::unique_ptr<VsockHostBackend> host_;
  EventLoop& loop_;

  mutable std::mutex mu_;
  const GuestMemory* mem_ = nullptr;
  InterruptSink* irq_ = nullptr;
  Queue* rx_ = nullptr;
  Queue* tx_ = nullptr;
  Queue* ev_ = nullptr;
  bool active_ = false;
  bool broken_ = false;
  bool rx_pushed_ = false;
  bool tx_pushed_ = false;
  bool ev_pushed_ = false;
  bool rx_starved_ = false;  // no RX buffer: host sockets are not read
  bool tx_paused_ = false;   // the reply queue was full: TX chains left in the ring
  // RX chains popped but not used, in pop order: PopRx() takes them first, so they are always
  // the last chains popped (Quiesce gives them back in one Unpop).
  std::deque<Chain> spare_rx_;
  // ReadHost's batch: the chains one recvmsg fills and their payload room (the header goes in
  // front of the payload once the recvmsg says how much came). Slots are reused from batch to
  // batch and chains popped straight into them: per packet, nothing is constructed or moved.
  struct RxSlot {
    Chain chain;
    uint64_t room = 0;
  };
  std::vector<RxSlot> rx_batch_;
  std::vector<iovec> rx_iov_;
  std::vector<Queue::UsedElem> rx_used_;  // the batch's used elements, published together
  std::deque<VsockHeader> replies_;
  // Connections the guest's credit had stopped and a TX packet just let go on: their socket most
  // likely holds data (the host writer was held back too), so ReadReopened() reads them after the
  // TX queue instead of waiting for another epoll round (and two epoll_ctl) per credit window.
  std::vector<Key> reopened_;
  int pending_events_ = 0;
  std::optional<std::chrono::steady_clock::time_point> reset_sent_at_;
  std::optional<uint16_t> reset_avail_idx_;  // the event queue's avail idx when it was delivered
  struct HeldConnect {
    UniqueFd client;
    uint32_t guest_port;
  };
  std::vector<HeldConnect> held_connects_;
  UniqueFd reset_ack_timer_;  // a timerfd, armed while CONNECTs are held
  uint32_t next_host_port_ = kFirstHostPort;
  std::map<Key, std::unique_ptr<Conn>> conns_;
  std::vector<uint8_t> buf_;  // socket read buffer, kMaxPayload bytes
};

}  // namespace uvm::devices::virtio::vsock
