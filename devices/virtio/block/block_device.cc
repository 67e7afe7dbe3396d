#include "devices/virtio/block/block_device.h"

#include <linux/fs.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "base/log.h"
#include "devices/virtio/block/disk_config.h"
#include "devices/virtio/chain.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::block {
namespace {

// The image size in whole sectors, as Disk::Open computes it.
Result<uint64_t> ReadCapacity(const Disk& disk) {
  struct stat st;
  if (::fstat(disk.fd(), &st) < 0) return ErrnoErr("disk image " + disk.path() + ": fstat");
  uint64_t bytes = 0;
  if (S_ISREG(st.st_mode)) {
    bytes = static_cast<uint64_t>(st.st_size);
  } else if (S_ISBLK(st.st_mode)) {
    if (::ioctl(disk.fd(), BLKGETSIZE64, &bytes) < 0) {
      return ErrnoErr("disk image " + disk.path() + ": BLKGETSIZE64");
    }
  } else {
    return Err("disk image " + disk.path() + ": not a regular file or block device");
  }
  return std::min(bytes / kSectorSize, kMaxSectors);
}

}  // namespace

BlockDevice::BlockDevice(Disk disk)
    : disk_(std::move(disk)), capacity_sectors_(std::min(disk_.capacity_sectors(), kMaxSectors)) {}

BlockDevice::~BlockDevice() = default;

Result<std::shared_ptr<BlockDevice>> BlockDevice::Create(Disk disk, EngineKind kind) {
  std::shared_ptr<BlockDevice> dev(new BlockDevice(std::move(disk)));
  BlockDevice* raw = dev.get();  // the engine is owned by the device: never outlives it
  IoCallback cb = [raw](uint64_t id, int error) { raw->OnIoComplete(id, error); };
  const int fd = dev->disk_.fd();
  auto engine = kind == EngineKind::kSync ? MakeSyncEngine(fd, std::move(cb))
                                          : MakeAioEngine(fd, kAioDepth, std::move(cb));
  if (!engine) return Err("virtio-blk " + dev->disk_.path() + ": " + engine.error().message);
  dev->engine_ = std::move(*engine);
  return dev;
}

uint32_t BlockDevice::DeviceType() const { return kDeviceIdBlock; }

uint64_t BlockDevice::Features() const {
  // The queues implement indirect descriptors and event suppression for every device.
  return BlockFeatures(disk_.read_only()) | Bit(kFeatureIndirectDesc) | Bit(kFeatureEventIdx);
}

void BlockDevice::ReadConfig(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  const VirtioBlkConfig config = MakeBlockConfig(capacity_sectors_, kQueueSize);
  ReadConfigBytes(ConfigBytes(config), offset, data);
}

void BlockDevice::WriteConfig(uint64_t, std::span<const uint8_t>) {
  // Only `writeback` is driver-writable, and only with CONFIG_WCE, which is not offered.
}

Result<void> BlockDevice::Activate(const GuestMemory& mem, uint64_t features,
                                   std::span<Queue> queues, InterruptSink& irq) {
  std::lock_guard lock(mu_);
  mem_ = &mem;
  irq_ = &irq;
  queue_ = !queues.empty() && queues[0].state().ready ? &queues[0] : nullptr;
  flush_negotiated_ = (features & (uint64_t{1} << kBlkFFlush)) != 0;
  broken_ = false;
  pushed_ = false;
  return {};
}

void BlockDevice::Reset() {
  std::lock_guard lock(mu_);
  // Forget the queue first: OnIoComplete() then drops every result without touching guest memory
  // or the rings. Buffers still being read or written by the kernel (aio) are guest memory, so
  // wait until the engine has nothing in flight.
  queue_ = nullptr;
  while (engine_->in_flight() > 0) {
    pollfd p{engine_->event_fd(), POLLIN, 0};
    if (::poll(&p, 1, 1000) < 0 && errno != EINTR) {
      Log(LogLevel::kError, "virtio-blk " + disk_.path() +
                                ": poll while draining: " + std::string(std::strerror(errno)));
    }
    engine_->ProcessCompletions();
  }
  in_flight_.clear();
  mem_ = nullptr;
  irq_ = nullptr;
  flush_negotiated_ = false;
  broken_ = false;
  pushed_ = false;
}

Result<void> BlockDevice::ProcessQueue(size_t index) {
  std::lock_guard lock(mu_);
  if (index != 0 || !queue_ || broken_) return {};
  const DiskGeometry geometry{capacity_sectors_, disk_.read_only()};
  Result<void> result;
  // One io_submit for everything this notification brought (EndBatch below).
  engine_->BeginBatch();
  for (;;) {
    auto popped = queue_->PopChain(*mem_);
    if (!popped) {
      broken_ = true;
      result = tl::unexpected<Error>(popped.error());
      break;
    }
    if (!*popped) break;
    const Chain& chain = **popped;
    auto parsed = ParseRequest(chain, geometry);
    if (!parsed) {
      // No writable byte for a status: hand the chain back untouched (5.2.6.1 cannot be met).
      queue_->PushUsed(*mem_, chain.head, 0);
      pushed_ = true;
      continue;
    }
    BlockRequest& req = *parsed;
    switch (req.op) {
      case BlockOp::kComplete:
        Answer(chain.head, req, req.status_value);
        break;
      case BlockOp::kGetId:
        FillGetId(req, disk_.id());
        Answer(chain.head, req, kBlkSOk);
        break;
      case BlockOp::kRead:
      case BlockOp::kWrite:
      case BlockOp::kFlush: {
        // A driver has at most one chain per descriptor in flight; more means it republished
        // heads it has not got back, which breaks the queue.
        if (in_flight_.size() >= queue_->state().size) {
          broken_ = true;
          result = Err("more requests in flight than the queue has entries");
          break;
        }
        const IoOp op = req.op == BlockOp::kRead    ? IoOp::kRead
                        : req.op == BlockOp::kWrite ? IoOp::kWrite
                                                    : IoOp::kFlush;
        const uint64_t id = next_id_++;
        std::vector<iovec> iov = op == IoOp::kFlush ? std::vector<iovec>{} : ToIovecs(req);
        const uint64_t offset = req.offset;
        in_flight_.emplace(id, InFlight{chain.head, std::move(req), false});
        engine_->Submit(id, op, offset, std::move(iov));
        break;
      }
    }
    if (broken_) break;
  }
  engine_->EndBatch();
  MaybeInterrupt();
  return result;
}

int BlockDevice::io_event_fd() const { return engine_->event_fd(); }

void BlockDevice::ProcessIoCompletions() {
  std::lock_guard lock(mu_);
  engine_->ProcessCompletions();
  MaybeInterrupt();
}

void BlockDevice::OnIoComplete(uint64_t id, int error) {
  auto it = in_flight_.find(id);
  if (it == in_flight_.end()) return;  // cannot happen: ids are ours
  InFlight& f = it->second;
  if (!queue_ || broken_) {  // draining for Reset(), or the ring is no longer ours to write
    in_flight_.erase(it);
    return;
  }
  if (error == 0 && f.request.op == BlockOp::kWrite && !f.syncing && !flush_negotiated_) {
    // Write-through: the write is done, make it durable before the driver hears of it.
    f.syncing = true;
    engine_->Submit(id, IoOp::kFlush, 0, {});
    return;
  }
  if (error != 0) {
    Log(LogLevel::kDebug, "virtio-blk " + disk_.path() + ": request type " +
                              std::to_string(f.request.type) + " sector " +
                              std::to_string(f.request.sector) + ": " + std::strerror(error));
  }
  Answer(f.head, f.request, error == 0 ? kBlkSOk : kBlkSIoErr);
  in_flight_.erase(it);
}

void BlockDevice::Answer(uint16_t head, const BlockRequest& request, uint8_t status) {
  const uint32_t len = CompleteRequest(request, status);
  queue_->PushUsed(*mem_, head, len);
  pushed_ = true;
}

void BlockDevice::MaybeInterrupt() {
  if (!pushed_ || !queue_) return;
  pushed_ = false;
  if (queue_->NeedsInterrupt(*mem_)) irq_->SignalUsed();
}

Result<void> BlockDevice::UpdateCapacity() { return RefreshCapacity(false); }

Result<void> BlockDevice::AnnounceCapacity() { return RefreshCapacity(true); }

Result<void> BlockDevice::RefreshCapacity(bool announce_always) {
  UVM_TRY(uint64_t sectors, ReadCapacity(disk_));
  std::lock_guard lock(mu_);
  if (sectors == capacity_sectors_ && !announce_always) return {};
  if (sectors != capacity_sectors_) {
    Log(LogLevel::kInfo, "virtio-blk " + disk_.path() + ": capacity " +
                             std::to_string(capacity_sectors_) + " -> " + std::to_string(sectors) +
                             " sectors");
    capacity_sectors_ = sectors;
  }
  // 4.2.2: bumps ConfigGeneration and raises the config-change interrupt; before activation the
  // driver reads the new value when it gets there.
  if (irq_) irq_->SignalConfigChange();
  return {};
}

Result<void> BlockDevice::Quiesce() {
  std::lock_guard lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + kQuiesceTimeout;
  // Write-through writes submit their fdatasync from the completion, so in_flight_ (not the
  // engine's count) says when every request is answered.
  while (!in_flight_.empty()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return Err("virtio-blk " + disk_.path() + ": " + std::to_string(in_flight_.size()) +
                 " requests still in flight after " + std::to_string(kQuiesceTimeout.count()) +
                 " ms");
    }
    pollfd p{engine_->event_fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      return ErrnoErr("virtio-blk " + disk_.path() + ": poll while quiescing");
    }
    engine_->ProcessCompletions();
  }
  MaybeInterrupt();
  return {};
}

void BlockDevice::Resize() {
  if (auto r = UpdateCapacity(); !r) {
    Log(LogLevel::kWarn, "virtio-blk resize: " + r.error().message);
  }
}

uint64_t BlockDevice::capacity_sectors() const {
  std::lock_guard lock(mu_);
  return capacity_sectors_;
}

size_t BlockDevice::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_.size();
}

}  // namespace uvm::devices::virtio::block
