// libFuzzer target: ParseRequest() on a chain built from arbitrary bytes. A chain that reached
// the block device has passed the chain walker, so only its *contents and cut* are hostile: the
// header, the type, the sector, how many buffers and how long each is, buffers describing the
// same guest memory twice. ParseRequest must answer every such chain with a request whose spans
// stay inside the chain's buffers and whose transfer stays inside the disk; ASan (each buffer is
// its own heap block) and the checks below turn anything else into a crash.
//
// Input layout:
//   byte 0       bit 0: read-only disk; bits 1-7: which capacity range (see Capacity())
//   bytes 1-8    capacity seed
//   then records {flags u8, len u16 LE, readable bytes...}:
//                flags bit 0: writable; bit 1: alias the previous buffer's memory (like two
//                descriptors with one address); a readable buffer takes its contents from the
//                input that follows.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "devices/virtio/block/request.h"

namespace {

using uvm::devices::virtio::Chain;
using uvm::devices::virtio::ChainBuffer;
namespace blk = uvm::devices::virtio::block;

constexpr size_t kMaxBuffers = 64;
constexpr uint32_t kMaxLen = 8192;

// Capacities around the interesting edges: tiny, a typical image, and near the overflow limits.
uint64_t Capacity(uint8_t selector, uint64_t seed) {
  switch (selector % 4) {
    case 0:
      return seed % 64;
    case 1:
      return seed;
    case 2:
      return blk::kMaxSectors - (seed % 16);
    default:
      return ~uint64_t{0} - (seed % 16);
  }
}

bool Inside(const Chain& chain, const uint8_t* p, size_t n, bool writable) {
  for (const ChainBuffer& b : writable ? chain.writable : chain.readable) {
    if (p >= b.host && n <= b.len && p - b.host <= static_cast<ptrdiff_t>(b.len - n)) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  const bool read_only = data[0] & 1;
  uint64_t seed;
  std::memcpy(&seed, data + 1, 8);
  const blk::DiskGeometry geometry{Capacity(data[0] >> 1, seed), read_only};
  size_t pos = 9;

  std::vector<std::unique_ptr<uint8_t[]>> arena;
  Chain chain;
  ChainBuffer prev{0, nullptr, 0};
  while (pos + 3 <= size && chain.readable.size() + chain.writable.size() < kMaxBuffers) {
    const uint8_t flags = data[pos];
    uint32_t len = (data[pos + 1] | (uint32_t{data[pos + 2]} << 8)) % (kMaxLen + 1);
    pos += 3;
    const bool writable = flags & 1;
    // A readable buffer cannot follow a writable one: the chain walker guarantees the order.
    if (!writable && !chain.writable.empty()) break;
    ChainBuffer b{0x1000 * (arena.size() + 1), nullptr, len};
    if ((flags & 2) && prev.host != nullptr) {
      b.host = prev.host;
      b.len = std::min(len, prev.len);
    } else {
      arena.push_back(std::make_unique<uint8_t[]>(len == 0 ? 1 : len));
      b.host = arena.back().get();
      std::memset(b.host, 0xa5, len);
      if (!writable) {
        const size_t n = std::min<size_t>(len, size - pos);
        std::memcpy(b.host, data + pos, n);
        pos += n;
      }
    }
    (writable ? chain.writable : chain.readable).push_back(b);
    prev = b;
  }

  auto parsed = blk::ParseRequest(chain, geometry);
  if (!parsed) {
    if (chain.writable_bytes() != 0) __builtin_trap();  // only a chain with no status may fail
    return 0;
  }
  const blk::BlockRequest& r = *parsed;
  if (r.status == nullptr || !Inside(chain, r.status, 1, true)) __builtin_trap();

  uint64_t total = 0;
  const bool to_guest = r.op == blk::BlockOp::kRead || r.op == blk::BlockOp::kGetId;
  for (std::span<uint8_t> s : r.data) {
    if (!Inside(chain, s.data(), s.size(), to_guest)) __builtin_trap();
    total += s.size();
  }
  if (total != r.data_len) __builtin_trap();

  switch (r.op) {
    case blk::BlockOp::kRead:
    case blk::BlockOp::kWrite:
      if (r.data_len == 0 || r.data_len % blk::kSectorSize != 0) __builtin_trap();
      if (r.op == blk::BlockOp::kWrite && read_only) __builtin_trap();
      if (r.sector > geometry.capacity_sectors ||
          r.data_len / blk::kSectorSize > geometry.capacity_sectors - r.sector ||
          r.offset != r.sector * blk::kSectorSize ||
          r.offset + r.data_len > (blk::kMaxSectors << blk::kSectorShift)) {
        __builtin_trap();
      }
      break;
    case blk::BlockOp::kGetId:
      if (r.data_len != blk::kBlockIdBytes) __builtin_trap();
      break;
    case blk::BlockOp::kFlush:
    case blk::BlockOp::kComplete:
      if (!r.data.empty()) __builtin_trap();
      break;
  }

  // What the device then does with the spans, so ASan checks every byte of them.
  if (r.op == blk::BlockOp::kGetId) {
    const uint8_t id[] = "uvm-fuzz";
    blk::FillGetId(r, id);
  } else if (r.op == blk::BlockOp::kRead) {
    for (std::span<uint8_t> s : r.data) std::memset(s.data(), 0x5a, s.size());
  } else if (r.op == blk::BlockOp::kWrite) {
    volatile uint8_t sum = 0;
    for (std::span<uint8_t> s : r.data) {
      for (uint8_t byte : s) sum = sum + byte;
    }
  }
  (void)blk::ToIovecs(r);
  const uint32_t used =
      blk::CompleteRequest(r, r.op == blk::BlockOp::kComplete ? r.status_value : blk::kBlkSOk);
  if (used == 0 || (used > 1 && !to_guest)) __builtin_trap();
  return 0;
}
