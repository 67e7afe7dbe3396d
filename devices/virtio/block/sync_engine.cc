// The synchronous engine: each operation runs to its end inside Submit(); the result is queued
// and the eventfd signalled, so completions still arrive through the loop like the async
// engine's.
#include <fcntl.h>
#include <limits.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "base/event_loop.h"
#include "devices/virtio/block/io_engine.h"

namespace uvm::devices::virtio::block {

bool AdvanceIovecs(std::vector<iovec>& iov, size_t& first, uint64_t n) {
  while (first < iov.size()) {
    iovec& v = iov[first];
    const uint64_t take = std::min<uint64_t>(n, v.iov_len);
    v.iov_base = static_cast<uint8_t*>(v.iov_base) + take;
    v.iov_len -= take;
    n -= take;
    if (v.iov_len != 0) break;
    ++first;
  }
  return n == 0;
}

uint64_t IovecBytes(const std::vector<iovec>& iov, size_t first) {
  uint64_t n = 0;
  for (size_t i = first; i < iov.size(); ++i) n += iov[i].iov_len;
  return n;
}

namespace {

// Transfers all of `iov` or fails. preadv/pwritev may stop short (a signal, a huge request
// capped by the kernel at ~2 GiB, more than IOV_MAX iovecs): continue from where they stopped.
// No progress (0 bytes: end of file, or a full disk) is an error: a partial transfer must not
// read as success.
int TransferAll(int fd, IoOp op, uint64_t offset, std::vector<iovec>& iov) {
  size_t first = 0;
  AdvanceIovecs(iov, first, 0);  // skip leading empty iovecs
  while (first < iov.size()) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    const ssize_t n = op == IoOp::kRead
                          ? ::preadv(fd, iov.data() + first, count, static_cast<off_t>(offset))
                          : ::pwritev(fd, iov.data() + first, count, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    offset += static_cast<uint64_t>(n);
    AdvanceIovecs(iov, first, static_cast<uint64_t>(n));
  }
  return 0;
}

class SyncEngine final : public IoEngine {
 public:
  SyncEngine(int fd, EventFd ready, IoCallback on_complete)
      : fd_(fd), ready_(std::move(ready)), on_complete_(std::move(on_complete)) {}

  void Submit(uint64_t id, IoOp op, uint64_t offset, std::vector<iovec> iov) override {
    int error = 0;
    if (op == IoOp::kFlush) {
      // Every earlier write already finished inside its own Submit(), so this covers them all.
      error = ::fdatasync(fd_) < 0 ? errno : 0;
    } else {
      error = TransferAll(fd_, op, offset, iov);
    }
    done_.emplace_back(id, error);
    ready_.Signal();
  }

  int event_fd() const override { return ready_.fd(); }

  void ProcessCompletions() override {
    ready_.Consume();
    // Callbacks may Submit(), which appends to done_: deliver from a private list and repeat.
    while (!done_.empty()) {
      std::vector<std::pair<uint64_t, int>> batch;
      batch.swap(done_);
      for (auto [id, error] : batch) on_complete_(id, error);
    }
  }

  size_t in_flight() const override { return done_.size(); }

 private:
  int fd_;
  EventFd ready_;
  IoCallback on_complete_;
  std::vector<std::pair<uint64_t, int>> done_;
};

}  // namespace

Result<std::unique_ptr<IoEngine>> MakeSyncEngine(int fd, IoCallback on_complete) {
  UVM_TRY(EventFd ready, EventFd::Create());
  return std::unique_ptr<IoEngine>(
      std::make_unique<SyncEngine>(fd, std::move(ready), std::move(on_complete)));
}

}  // namespace uvm::devices::virtio::block
