// The virtio-blk device (virtio 1.2, 5.2): one request queue in front of a raw disk image.
//
// ProcessQueue() turns each chain into a BlockRequest (request.h). Requests that need no I/O
// (malformed, forbidden, unsupported, GET_ID) are answered at once; reads, writes and flushes go
// to the IoEngine and are answered when the engine reports them, from ProcessIoCompletions(). The
// event loop that runs the device polls io_event_fd() and calls ProcessIoCompletions() when it is
// readable.
//
// Write durability (5.2.6.3 / 5.2.5): uvm offers VIRTIO_BLK_F_FLUSH and not CONFIG_WCE. When the
// driver negotiates FLUSH the cache is write-back: a write completes when the kernel has it and
// a FLUSH makes it durable. When it does not, the device is write-through: each write is followed
// by an fdatasync (an engine flush) and completes only after that.
//
// Threads and locking. The transport (mmio_transport.h) holds its own mutex around every call it
// makes into the device (Activate, Reset, ReadConfig, WriteConfig, ProcessQueue), but offers no
// lock for work the device does on its own: engine completions and UpdateCapacity() come without
// it, and InterruptSink is documented as callable from any thread without that lock. Today
// ProcessQueue() may also run on a vCPU thread (a QueueNotify write) while completions run on the
// event loop. So the device has its own mutex, mu_, taken by every entry point that touches the
// queue, the in-flight map, the engine or the capacity. Lock order: transport mutex, then mu_;
// the device never takes the transport's mutex (InterruptSink takes none), so it cannot deadlock.
// The engine is not thread-safe and is only called under mu_.
//
// Reset() (transport mutex held, vCPU thread) must stop all guest memory access before it
// returns: it drains the engine under mu_ (polls its eventfd and reaps completions until nothing is
// in flight), dropping every result without touching the queue or guest memory, and only then
// clears the in-flight bookkeeping and forgets the queue, memory and interrupt sink.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>

#include "base/guest_memory.h"
#include "base/result.h"
#include "devices/virtio/block/disk.h"
#include "devices/virtio/block/io_engine.h"
#include "devices/virtio/block/request.h"
#include "devices/virtio/device.h"
#include "devices/virtio/queue.h"

namespace uvm::devices::virtio::block {

enum class EngineKind : uint8_t { kSync, kAio };

class BlockDevice final : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  // libaio depth: a full queue of requests fits in the kernel at once.
  static constexpr unsigned kAioDepth = kQueueSize;

  static Result<std::shared_ptr<BlockDevice>> Create(Disk disk, EngineKind kind);
  ~BlockDevice() override;

  BlockDevice(const BlockDevice&) = delete;
  BlockDevice& operator=(const BlockDevice&) = delete;

  // VirtioDevice.
  uint32_t DeviceType() const override;
  uint64_t Features() const override;
  size_t NumQueues() const override { return 1; }
  uint16_t QueueMaxSize(size_t) const override { return kQueueSize; }
  void ReadConfig(uint64_t offset, std::span<uint8_t> data) override;
  void WriteConfig(uint64_t offset, std::span<const uint8_t> data) override;
  Result<void> Activate(const GuestMemory& mem, uint64_t features, std::span<Queue> queues,
                        InterruptSink& irq) override;
  void Reset() override;
  Result<void> ProcessQueue(size_t index) override;
  // Finishes every request the engine is working on into the used ring (polling io_event_fd()
  // and answering completions, with the driver interrupted as usual), waiting at most
  // kQuiesceTimeout; a request the disk does not finish by then (a hung NFS server, say) fails
  // the call, since a snapshot would lose it.
  Result<void> Quiesce() override;
  static constexpr std::chrono::milliseconds kQuiesceTimeout{5000};

  // For the device event loop: readable when I/O completions are waiting; then call
  // ProcessIoCompletions(), which answers the finished requests and interrupts the driver if it
  // wants that. Safe from any thread (takes mu_), normally the event loop's.
  int io_event_fd() const;
  void ProcessIoCompletions();

  // Re-reads the image size (the file may have grown, e.g. after a clone was resized) and, if
  // the capacity changed and the device is active, raises a configuration-change interrupt so the
  // driver re-reads `capacity` (5.2.4). Any thread.
  Result<void> UpdateCapacity();
  // UpdateCapacity() for callers that cannot handle an error: logs it.
  void Resize();
  // UpdateCapacity(), then a configuration-change interrupt even when the size did not change
  // from this device's view: after MmioTransport::RestoreState() into a device opened on another
  // disk (a clone's real disk in place of the template's empty placeholder), the driver still
  // believes the capacity it read from the template's device. Linux's virtio_blk then re-reads
  // `capacity` and resizes the disk (5.2.4). Nothing to announce before activation: the driver
  // reads the capacity when it gets there.
  Result<void> AnnounceCapacity();

  // For tests and diagnostics.
  uint64_t capacity_sectors() const;
  size_t in_flight() const;  // requests submitted to the engine and not yet answered
  const Disk& disk() const { return disk_; }

 private:
  // One request the engine is working on.
  struct InFlight {
    uint16_t head = 0;
    BlockRequest request;
    // Write-through mode: the write finished, the fdatasync that follows it is running.
    bool syncing = false;
  };

  explicit BlockDevice(Disk disk);
  Result<void> RefreshCapacity(bool announce_always);
  void OnIoComplete(uint64_t id, int error);  // the engine callback; mu_ held
  void Answer(uint16_t head, const BlockRequest& request, uint8_t status);  // mu_ held
  void MaybeInterrupt();                                                    // mu_ held

  // Declared before engine_: the engine borrows the disk's fd.
  Disk disk_;
  std::unique_ptr<IoEngine> engine_;

  mutable std::mutex mu_;  // see the header comment
  uint64_t capacity_sectors_ = 0;
  // Set by Activate(), cleared by Reset().
  const GuestMemory* mem_ = nullptr;
  Queue* queue_ = nullptr;  // null when the driver did not make queue 0 ready
  InterruptSink* irq_ = nullptr;
  bool flush_negotiated_ = false;
  bool broken_ = false;  // the queue failed a PopChain: no more ring access until reset
  bool pushed_ = false;  // used entries pushed since the last NeedsInterrupt() check
  // Keyed by a device-chosen sequence number rather than the chain head: a hostile driver can
  // republish a head that is still in flight, and two requests must never share a key.
  uint64_t next_id_ = 0;
  std::map<uint64_t, InFlight> in_flight_;
};

}  // namespace uvm::devices::virtio::block
