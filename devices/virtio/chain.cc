#include "devices/virtio/chain.h"

#include <algorithm>
#include <cstring>

namespace uvm::devices::virtio {
namespace {

uint64_t Sum(const ChainBuffers& bufs) {
  uint64_t total = 0;
  for (const ChainBuffer& b : bufs) total += b.len;
  return total;
}

// Bytes left from (index, offset) to the end of bufs.
uint64_t Remaining(const ChainBuffers& bufs, size_t index, uint32_t offset) {
  uint64_t total = 0;
  for (size_t i = index; i < bufs.size(); ++i) total += bufs[i].len;
  return index < bufs.size() ? total - offset : 0;
}

// Hands out up to `len` bytes from the cursor (index, offset) as spans, advancing it. Shared by
// the reader and the writer; `fn(span)` consumes each piece.
template <class Fn>
uint64_t Advance(const ChainBuffers& bufs, size_t& index, uint32_t& offset, uint64_t len, Fn fn) {
  uint64_t done = 0;
  while (done < len && index < bufs.size()) {
    const ChainBuffer& b = bufs[index];
    uint64_t n = std::min<uint64_t>(len - done, b.len - offset);
    if (n > 0) fn(std::span<uint8_t>(b.host + offset, n));
    done += n;
    offset += static_cast<uint32_t>(n);
    if (offset == b.len) {
      ++index;
      offset = 0;
    }
  }
  return done;
}

}  // namespace

uint64_t Chain::readable_bytes() const { return Sum(readable); }
uint64_t Chain::writable_bytes() const { return Sum(writable); }

size_t ChainReader::Read(std::span<uint8_t> out) {
  size_t copied = 0;
  Advance(bufs_, index_, offset_, out.size(), [&](std::span<uint8_t> piece) {
    std::memcpy(out.data() + copied, piece.data(), piece.size());
    copied += piece.size();
  });
  return copied;
}

uint64_t ChainReader::remaining() const { return Remaining(bufs_, index_, offset_); }

std::vector<std::span<uint8_t>> ChainReader::Take(uint64_t len) {
  std::vector<std::span<uint8_t>> spans;
  Advance(bufs_, index_, offset_, len, [&](std::span<uint8_t> piece) { spans.push_back(piece); });
  return spans;
}

size_t ChainWriter::Write(std::span<const uint8_t> data) {
  size_t copied = 0;
  Advance(bufs_, index_, offset_, data.size(), [&](std::span<uint8_t> piece) {
    std::memcpy(piece.data(), data.data() + copied, piece.size());
    copied += piece.size();
  });
  written_ += copied;
  return copied;
}

uint64_t ChainWriter::remaining() const { return Remaining(bufs_, index_, offset_); }

std::vector<std::span<uint8_t>> ChainWriter::Take(uint64_t len) {
  std::vector<std::span<uint8_t>> spans;
  written_ += Advance(bufs_, index_, offset_, len,
                      [&](std::span<uint8_t> piece) { spans.push_back(piece); });
  return spans;
}

uint64_t ChainWriter::Skip(uint64_t len) {
  const uint64_t skipped = Advance(bufs_, index_, offset_, len, [](std::span<uint8_t>) {});
  written_ += skipped;
  return skipped;
}

uint64_t ChainWriter::TakeIovecs(uint64_t len, std::vector<iovec>& out) {
  const uint64_t taken = Advance(bufs_, index_, offset_, len, [&](std::span<uint8_t> piece) {
    out.push_back({piece.data(), piece.size()});
  });
  written_ += taken;
  return taken;
}

}  // namespace uvm::devices::virtio
