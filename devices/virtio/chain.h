// A validated descriptor chain (virtio 1.x, 2.7.5 "The Virtqueue Descriptor Table"): what a device
// sees of one request. The queue's chain walker (the security boundary, see queue.h) has already
// checked every guest-controlled value: each buffer lies wholly inside guest RAM, the chain is
// bounded, readable (driver->device) buffers come before writable (device->driver) ones.
// Devices read the request from the readable part and write the reply into the writable part
// through the cursors below, which never step outside the chain.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <vector>

#include "base/guest_memory.h"
#include "base/inline_vector.h"

namespace uvm::devices::virtio {

// One buffer of a chain, already translated to host memory.
struct ChainBuffer {
  uint64_t gpa;
  uint8_t* host;
  uint32_t len;
};

// A chain's buffers on one side. Drivers send one to three buffers per chain almost always (a
// vsock or net receive buffer, a block request's header, data and status): those stay inside the
// Chain, so popping, moving and dropping chains allocates nothing on the data path.
using ChainBuffers = InlineVector<ChainBuffer, 4>;

struct Chain {
  uint16_t head = 0;      // descriptor index to return in the used ring
  ChainBuffers readable;  // device reads these, in order
  ChainBuffers writable;  // device writes these, in order

  uint64_t readable_bytes() const;
  uint64_t writable_bytes() const;
};

// Reads sequentially across the readable buffers of a chain.
class ChainReader {
 public:
  explicit ChainReader(const Chain& chain) : bufs_(chain.readable) {}
  // Copies min(out.size(), remaining) bytes; returns how many were copied.
  size_t Read(std::span<uint8_t> out);
  // Reads exactly sizeof(T) bytes or returns false (and consumes nothing).
  template <class T>
  bool ReadObj(T& obj) {
    if (remaining() < sizeof(T)) return false;
    Read(std::span<uint8_t>(reinterpret_cast<uint8_t*>(&obj), sizeof(T)));
    return true;
  }
  uint64_t remaining() const;
  // The next `len` bytes as host spans (for scatter-gather I/O) without copying; consumes them.
  std::vector<std::span<uint8_t>> Take(uint64_t len);

 private:
  const ChainBuffers& bufs_;
  size_t index_ = 0;
  uint32_t offset_ = 0;
};

// Writes sequentially across the writable buffers of a chain; counts what was written (the
// "len" of the used ring element, 2.7.8).
class ChainWriter {
 public:
  explicit ChainWriter(const Chain& chain) : bufs_(chain.writable) {}
  size_t Write(std::span<const uint8_t> data);
  template <class T>
  bool WriteObj(const T& obj) {
    if (remaining() < sizeof(T)) return false;
    Write(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&obj), sizeof(T)));
    return true;
  }
  uint64_t remaining() const;
  uint64_t written() const { return written_; }
  // The next `len` writable bytes as host spans, counted as written; for scatter-gather reads.
  std::vector<std::span<uint8_t>> Take(uint64_t len);
  // The same as iovecs appended to `out` (a caller's reused vector: no allocation per chain), for
  // a readv/recvmsg straight into guest memory; returns how many bytes were taken.
  uint64_t TakeIovecs(uint64_t len, std::vector<iovec>& out);
  // Steps over the next `len` writable bytes (counted as written) to fill them later with a
  // ChainWriter of their own; returns how many there were.
  uint64_t Skip(uint64_t len);

 private:
  const ChainBuffers& bufs_;
  size_t index_ = 0;
  uint32_t offset_ = 0;
  uint64_t written_ = 0;
};

}  // namespace uvm::devices::virtio
