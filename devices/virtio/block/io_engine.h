// How the block device moves data between guest memory and the disk file.
//
// The device thread submits operations and learns of their end on its event loop: it polls
// event_fd() and calls ProcessCompletions(), which runs the completion callback once per
// finished operation. Submit() never runs the callback itself, even for an operation that failed
// or finished at once, so the device never sees a completion re-entrantly while it is still
// walking its queue.
//
// Engines borrow the file descriptor (the Disk owns it and must outlive the engine) and the iovec
// target memory (guest RAM, which outlives every device).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "base/result.h"

namespace uvm::devices::virtio::block {

enum class IoOp : uint8_t { kRead, kWrite, kFlush };

// `error` is 0 when the whole transfer (or the flush) succeeded, otherwise a positive errno. A
// partial transfer is never reported as success.
using IoCallback = std::function<void(uint64_t id, int error)>;

class IoEngine {
 public:
  virtual ~IoEngine() = default;

  // Starts `op` of the bytes described by `iov` at byte `offset` of the file (`iov` and `offset`
  // are ignored for kFlush). A flush completes only after every write submitted before it has
  // completed and the file's data has then been made durable. That is stronger than virtio 1.2,
  // 5.2.6 asks (a FLUSH covers the writes the driver has seen complete) and costs nothing.
  virtual void Submit(uint64_t id, IoOp op, uint64_t offset, std::vector<iovec> iov) = 0;

  // Between BeginBatch() and EndBatch() an engine may hold submissions and hand them to the
  // kernel together at EndBatch() (one io_submit for a queue's worth of requests rather than one
  // each). Submissions outside a batch start at once.
  virtual void BeginBatch() {}
  virtual void EndBatch() {}

  // Readable when completions are waiting.
  virtual int event_fd() const = 0;

  // Reports every finished operation through the callback. Callbacks may Submit() again.
  virtual void ProcessCompletions() = 0;

  // Operations submitted and not yet reported.
  virtual size_t in_flight() const = 0;
};

// Does each operation inline in Submit() with preadv/pwritev/fdatasync: the fallback where
// libaio is unavailable, and the reference the async engine is tested against.
Result<std::unique_ptr<IoEngine>> MakeSyncEngine(int fd, IoCallback on_complete);

// libaio with up to `depth` operations in the kernel at once; flushes run on a worker thread.
Result<std::unique_ptr<IoEngine>> MakeAioEngine(int fd, unsigned depth, IoCallback on_complete);

// Steps the iovec cursor `first` past `n` transferred bytes: trims a partly done iovec in place
// and skips exhausted and empty ones. Returns false if `n` exceeds what remained.
bool AdvanceIovecs(std::vector<iovec>& iov, size_t& first, uint64_t n);

// Bytes left in iov[first..].
uint64_t IovecBytes(const std::vector<iovec>& iov, size_t first);

}  // namespace uvm::devices::virtio::block
