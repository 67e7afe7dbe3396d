// Turns one validated descriptor chain into a block request (virtio 1.2, 5.2.6).
//
// The chain's buffers are already inside guest RAM, but everything *in* them is guest-chosen:
// the header, the type, the sector, how the bytes are split across buffers. ParseRequest trusts
// none of it. It is pure (reads the header, touches no other guest byte) so it can be fuzzed.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "devices/virtio/block/disk_config.h"
#include "devices/virtio/chain.h"

namespace uvm::devices::virtio::block {

// What ParseRequest needs to know about the disk.
struct DiskGeometry {
  uint64_t capacity_sectors = 0;
  bool read_only = false;
};

// struct virtio_blk_req's driver-written header (5.2.6), little-endian.
struct __attribute__((packed)) BlockRequestHeader {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};
static_assert(sizeof(BlockRequestHeader) == 16);

enum class BlockOp : uint8_t {
  kRead,      // read data_len bytes at offset into `data`
  kWrite,     // write `data` (data_len bytes) at offset
  kFlush,     // make every completed write durable
  kGetId,     // copy the 20-byte disk id into `data`
  kComplete,  // nothing to do: write `status_value` and return the chain
};

struct BlockRequest {
  BlockOp op = BlockOp::kComplete;
  uint32_t type = 0;    // the raw header type, for logs
  uint64_t sector = 0;  // header sector (meaningful for kRead/kWrite)
  uint64_t offset = 0;  // sector * 512, checked not to overflow
  uint64_t data_len = 0;
  // Host memory of the data: readable buffers for kWrite, writable ones for kRead/kGetId.
  std::vector<std::span<uint8_t>> data;
  // The last writable byte of the chain, where the status goes; never null.
  uint8_t* status = nullptr;
  // For kComplete: the status to report (IOERR for a malformed or forbidden request, UNSUPP for
  // a type we do not implement).
  uint8_t status_value = kBlkSOk;
};

// Parses `chain` for a disk of `geometry`. Malformed requests still parse, as kComplete with an
// error status, because the driver can be told. The only error is a chain with no writable byte:
// there is nowhere to put a status, so the device cannot complete the request and should return
// the chain with used length 0.
Result<BlockRequest> ParseRequest(const Chain& chain, const DiskGeometry& geometry);

// Writes `status` into the request's status byte and returns the used length to put in the used
// ring (2.7.8): the data bytes the device wrote (only for a successful kRead/kGetId) plus one.
uint32_t CompleteRequest(const BlockRequest& request, uint8_t status);

// Copies `id` into the data of a kGetId request, zero-padding it to 20 bytes (5.2.6).
void FillGetId(const BlockRequest& request, std::span<const uint8_t> id);

// The request's data as iovecs for preadv/pwritev or libaio.
std::vector<iovec> ToIovecs(const BlockRequest& request);

}  // namespace uvm::devices::virtio::block
