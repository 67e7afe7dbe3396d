#include "devices/virtio/block/request.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace uvm::devices::virtio::block {
namespace {

BlockRequest Fail(BlockRequest req, uint8_t status) {
  req.op = BlockOp::kComplete;
  req.status_value = status;
  req.data.clear();
  req.data_len = 0;
  return req;
}

// Checks an IN/OUT transfer of `len` bytes at `sector` against the disk (5.2.6.2: the device
// MUST NOT access beyond capacity). Nothing is added or scaled before it is bounded: the sector
// is compared before it is scaled, the length against what is left, and the capacity is capped
// so that (sector + len / 512) * 512 always fits in off_t.
bool InRange(uint64_t sector, uint64_t len, const DiskGeometry& g) {
  const uint64_t capacity = std::min(g.capacity_sectors, kMaxSectors);
  if (sector > capacity) return false;
  return (len >> kSectorShift) <= capacity - sector;
}

}  // namespace

Result<BlockRequest> ParseRequest(const Chain& chain, const DiskGeometry& geometry) {
  BlockRequest req;

  // 5.2.6: the status is the last byte of the device-writable part, wherever the buffers are cut
  // (2.6.4 "Message Framing": the device must not assume a particular layout). Zero-length
  // buffers at the end do not hold it.
  const ChainBuffer* last = nullptr;
  for (auto it = chain.writable.rbegin(); it != chain.writable.rend(); ++it) {
    if (it->len > 0) {
      last = &*it;
      break;
    }
  }
  if (last == nullptr) {
    return Err("virtio-blk request without a writable status byte (virtio 5.2.6)");
  }
  req.status = last->host + (last->len - 1);
  // Everything writable before the status byte can hold read data.
  const uint64_t writable_data = chain.writable_bytes() - 1;

  ChainReader reader(chain);
  BlockRequestHeader header;
  if (!reader.ReadObj(header)) return Fail(std::move(req), kBlkSIoErr);  // shorter than 16 bytes
  req.type = header.type;
  req.sector = header.sector;

  switch (header.type) {
    case kBlkTIn:
    case kBlkTOut: {
      const bool write = header.type == kBlkTOut;
      // 5.2.6.2: a device offering RO fails writes with IOERR and writes no data.
      if (write && geometry.read_only) return Fail(std::move(req), kBlkSIoErr);
      // OUT data is every readable byte after the header; IN data every writable byte before
      // the status. Extra bytes on the other side are ignored, as framing is not ours to judge.
      const uint64_t len = write ? reader.remaining() : writable_data;
      // 5.2.6.1: the data length is a multiple of 512 bytes for IN and OUT.
      if (len % kSectorSize != 0) return Fail(std::move(req), kBlkSIoErr);
      if (!InRange(header.sector, len, geometry)) return Fail(std::move(req), kBlkSIoErr);
      req.offset = header.sector << kSectorShift;
      if (len == 0) return Fail(std::move(req), kBlkSOk);  // nothing to transfer
      req.op = write ? BlockOp::kWrite : BlockOp::kRead;
      req.data_len = len;
      if (write) {
        req.data = reader.Take(len);
      } else {
        ChainWriter writer(chain);
        req.data = writer.Take(len);
      }
      return req;
    }
    case kBlkTFlush:
      // The header's sector is meaningless for FLUSH (Linux sends 0); it is ignored.
      req.op = BlockOp::kFlush;
      return req;
    case kBlkTGetId: {
      // 5.2.6.1: the driver gives 20 bytes for the id. A shorter buffer gets IOERR rather than a
      // truncated id the driver could mistake for a whole one.
      if (writable_data < kBlockIdBytes) return Fail(std::move(req), kBlkSIoErr);
      ChainWriter writer(chain);
      req.op = BlockOp::kGetId;
      req.data = writer.Take(kBlockIdBytes);
      req.data_len = kBlockIdBytes;
      return req;
    }
    default:
      // 5.2.6.2: types not offered (SCSI, DISCARD, WRITE_ZEROES, GET_LIFETIME, ...) are UNSUPP.
      return Fail(std::move(req), kBlkSUnsupp);
  }
}

uint32_t CompleteRequest(const BlockRequest& request, uint8_t status) {
  *request.status = status;
  uint64_t written = 1;
  if (status == kBlkSOk && (request.op == BlockOp::kRead || request.op == BlockOp::kGetId)) {
    written += request.data_len;
  }
  // A guest can describe one region many times over, so the data may exceed 4 GiB; the used
  // length is 32 bits and only needs to not overstate what was written.
  return static_cast<uint32_t>(std::min<uint64_t>(written, std::numeric_limits<uint32_t>::max()));
}

void FillGetId(const BlockRequest& request, std::span<const uint8_t> id) {
  uint8_t padded[kBlockIdBytes] = {};
  std::memcpy(padded, id.data(), std::min(id.size(), kBlockIdBytes));
  size_t done = 0;
  for (std::span<uint8_t> s : request.data) {
    const size_t n = std::min(s.size(), kBlockIdBytes - done);
    std::memcpy(s.data(), padded + done, n);
    done += n;
    if (done == kBlockIdBytes) break;
  }
}

std::vector<iovec> ToIovecs(const BlockRequest& request) {
  std::vector<iovec> iov;
  iov.reserve(request.data.size());
  for (std::span<uint8_t> s : request.data) {
    if (!s.empty()) iov.push_back(iovec{s.data(), s.size()});
  }
  return iov;
}

}  // namespace uvm::devices::virtio::block
