// The libaio engine. Reads and writes are iocbs whose completion signals one eventfd
// (io_set_eventfd), which the device loop polls.
//
// Flush is not an iocb: IOCB_CMD_FDSYNC is refused (EINVAL) by most filesystems, so fdatasync()
// runs on a worker thread instead. Not on the loop itself: a sync can take tens of milliseconds
// and would stall every other device the loop serves. The worker batches: one fdatasync()
// answers every flush queued before it started. A flush goes to the worker only once every write
// submitted before it has completed, because fdatasync() only covers writes the kernel finished.
#include <libaio.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "base/event_loop.h"
#include "devices/virtio/block/io_engine.h"

namespace uvm::devices::virtio::block {
namespace {

struct Op {
  uint64_t id = 0;
  IoOp op = IoOp::kRead;
  uint64_t seq = 0;     // submission order, for flush ordering
  uint64_t offset = 0;  // file offset of what is still to transfer
  std::vector<iovec> iov;
  size_t first = 0;  // first iovec still to transfer
  iocb cb{};
};

class AioEngine final : public IoEngine {
 public:
  AioEngine(int fd, unsigned depth, io_context_t ctx, EventFd ready, IoCallback on_complete)
      : fd_(fd),
        depth_(depth),
        ctx_(ctx),
        ready_(std::move(ready)),
        on_complete_(std::move(on_complete)),
        worker_([this] { FlushWorker(); }) {}

  ~AioEngine() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    worker_.join();
    // Waits for the iocbs still in the kernel, so none writes to freed Op state.
    io_destroy(ctx_);
  }

  void Submit(uint64_t id, IoOp op, uint64_t offset, std::vector<iovec> iov) override {
    const uint64_t seq = next_seq_++;
    if (op == IoOp::kFlush) {
      flushes_.emplace_back(seq, id);
      StartReadyFlushes();
      return;
    }
    auto owned = std::make_unique<Op>();
    Op* o = owned.get();
    o->id = id;
    o->op = op;
    o->seq = seq;
    o->offset = offset;
    o->iov = std::move(iov);
    AdvanceIovecs(o->iov, o->first, 0);
    ops_.emplace(o, std::move(owned));
    if (op == IoOp::kWrite) writes_.insert(seq);
    if (o->first == o->iov.size()) {  // nothing to transfer
      Finish(o, 0);
      return;
    }
    Queue(o);
    if (!batching_) Pump();
  }

  void BeginBatch() override { batching_ = true; }
  void EndBatch() override {
    batching_ = false;
    Pump();
  }

  int event_fd() const override { return ready_.fd(); }

  void ProcessCompletions() override {
    ready_.Consume();
    // Operations finished from here on are delivered by this call: no need to signal the
    // eventfd for them (that would only wake the loop again for nothing).
    reaping_ = true;
    io_event events[64];
    for (;;) {
      timespec zero{};
      const int n = io_getevents(ctx_, 0, 64, events, &zero);
      if (n <= 0) break;  // nothing left (or EINTR: the eventfd stays readable, we come back)
      for (int i = 0; i < n; ++i) Reap(events[i]);
      if (n < 64) break;
    }
    {
      std::lock_guard lock(mu_);
      for (auto& d : flush_done_) done_.push_back(d);
      flush_done_.clear();
    }
    Pump();
    reaping_ = false;
    // Callbacks may Submit(): deliver from a private list; new results re-signal the eventfd.
    std::vector<std::pair<uint64_t, int>> batch;
    batch.swap(done_);
    for (auto [id, error] : batch) on_complete_(id, error);
  }

  size_t in_flight() const override {
    std::lock_guard lock(mu_);
    return ops_.size() + flushes_.size() + flushing_ + done_.size() + flush_done_.size();
  }

 private:
  void Queue(Op* o) {
    const int count = static_cast<int>(std::min<size_t>(o->iov.size() - o->first, IOV_MAX));
    if (o->op == IoOp::kRead) {
      io_prep_preadv(&o->cb, fd_, o->iov.data() + o->first, count,
                     static_cast<long long>(o->offset));
    } else {
      io_prep_pwritev(&o->cb, fd_, o->iov.data() + o->first, count,
                      static_cast<long long>(o->offset));
    }
    io_set_eventfd(&o->cb, ready_.fd());
    o->cb.data = o;
    waiting_.push_back(o);
  }

  // Moves queued iocbs into the kernel, at most depth_ at a time. io_submit returns how many it
  // took, or -errno for the first one: EAGAIN means the kernel is out of room (retry after a
  // completion frees some); any other error belongs to that one iocb.
  void Pump() {
    while (!waiting_.empty() && in_kernel_ < depth_) {
      iocb* batch[64];
      const size_t n = std::min<size_t>({waiting_.size(), depth_ - in_kernel_, 64});
      for (size_t i = 0; i < n; ++i) batch[i] = &waiting_[i]->cb;
      const int rc = io_submit(ctx_, static_cast<long>(n), batch);
      if (rc > 0) {
        waiting_.erase(waiting_.begin(), waiting_.begin() + rc);
        in_kernel_ += static_cast<unsigned>(rc);
        continue;
      }
      if (rc == -EAGAIN && in_kernel_ > 0) return;  // a completion will call Pump() again
      // EAGAIN with nothing in flight would never be retried: fail rather than hang.
      Op* o = waiting_.front();
      waiting_.pop_front();
      Finish(o, rc < 0 ? -rc : EIO);
    }
  }

  void Reap(const io_event& ev) {
    --in_kernel_;
    Op* o = static_cast<Op*>(ev.data);
    const long res = static_cast<long>(ev.res);
    if (res < 0) return Finish(o, static_cast<int>(-res));
    // A short transfer is continued from where it stopped; no progress at all (end of file, a
    // full disk) is an error: a partial transfer never reads as success.
    if (res == 0) return Finish(o, EIO);
    if (!AdvanceIovecs(o->iov, o->first, static_cast<uint64_t>(res))) return Finish(o, EIO);
    o->offset += static_cast<uint64_t>(res);
    if (o->first == o->iov.size()) return Finish(o, 0);
    Queue(o);
  }

  void Finish(Op* o, int error) {
    done_.emplace_back(o->id, error);
    if (o->op == IoOp::kWrite) writes_.erase(o->seq);
    ops_.erase(o);
    if (!reaping_) ready_.Signal();
    StartReadyFlushes();
  }

  // Hands the worker every flush with no earlier write outstanding, in order.
  void StartReadyFlushes() {
    std::vector<uint64_t> start;
    while (!flushes_.empty() && (writes_.empty() || *writes_.begin() > flushes_.front().first)) {
      start.push_back(flushes_.front().second);
      flushes_.pop_front();
    }
    if (start.empty()) return;
    {
      std::lock_guard lock(mu_);
      flush_todo_.insert(flush_todo_.end(), start.begin(), start.end());
    }
    cv_.notify_one();
  }

  void FlushWorker() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !flush_todo_.empty(); });
      if (flush_todo_.empty()) return;  // stopping, nothing left to answer
      std::vector<uint64_t> ids;
      ids.swap(flush_todo_);
      flushing_ = ids.size();
      lock.unlock();
      const int error = ::fdatasync(fd_) < 0 ? errno : 0;
      lock.lock();
      flushing_ = 0;
      for (uint64_t id : ids) flush_done_.emplace_back(id, error);
      ready_.Signal();
    }
  }

  const int fd_;
  const unsigned depth_;
  io_context_t ctx_;
  EventFd ready_;
  IoCallback on_complete_;

  // Loop-thread state.
  uint64_t next_seq_ = 0;
  std::map<Op*, std::unique_ptr<Op>> ops_;  // every read/write not yet reported
  std::deque<Op*> waiting_;                 // prepared, not yet accepted by io_submit
  unsigned in_kernel_ = 0;
  std::set<uint64_t> writes_;                          // seqs of unfinished writes
  std::deque<std::pair<uint64_t, uint64_t>> flushes_;  // (seq, id) waiting for earlier writes
  std::vector<std::pair<uint64_t, int>> done_;
  bool batching_ = false;  // inside BeginBatch()/EndBatch(): Submit() only queues
  bool reaping_ = false;   // inside ProcessCompletions(): done_ is delivered before it returns

  // Shared with the worker.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<uint64_t> flush_todo_;
  size_t flushing_ = 0;
  std::vector<std::pair<uint64_t, int>> flush_done_;
  std::thread worker_;  // last: starts once everything above exists
};

}  // namespace

Result<std::unique_ptr<IoEngine>> MakeAioEngine(int fd, unsigned depth, IoCallback on_complete) {
  if (depth == 0) return Err("aio engine: queue depth must be at least 1");
  UVM_TRY(EventFd ready, EventFd::Create());
  io_context_t ctx = nullptr;
  if (int rc = io_setup(static_cast<int>(depth), &ctx); rc < 0) {
    return ErrnoErr("io_setup (is fs.aio-max-nr exhausted?)", -rc);
  }
  return std::unique_ptr<IoEngine>(
      std::make_unique<AioEngine>(fd, depth, ctx, std::move(ready), std::move(on_complete)));
}

}  // namespace uvm::devices::virtio::block
