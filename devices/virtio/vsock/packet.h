// virtio-vsock packets (virtio 1.2, 5.10 "Socket Device"): the header every packet starts with,
// the parser for the driver's TX queue and the writer for its RX queue.
//
// Everything in a TX chain is guest-chosen: the header, its split across buffers, the payload
// length. ParsePacket trusts none of it and touches no guest byte beyond the header, so it is pure
// and can be fuzzed. Payload bytes are returned as spans into the chain (valid until the chain is
// returned to the guest).
#pragma once

#include <bit>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "devices/virtio/chain.h"

namespace uvm::devices::virtio::vsock {

// The header fields are little-endian (5.10.6); uvm runs on little-endian hosts only, so the
// struct is read and written as is.
static_assert(std::endian::native == std::endian::little);

// 5.10.4: CIDs 0 and 1 are reserved, 2 is the host, the guest's comes from config space.
inline constexpr uint64_t kHostCid = 2;
// The largest payload a packet may carry: Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE (64 KiB); its
// driver never sends more and a larger len is treated as hostile.
inline constexpr uint32_t kMaxPayload = 64 * 1024;

// 5.10.6 "type".
inline constexpr uint16_t kTypeStream = 1;
inline constexpr uint16_t kTypeSeqpacket = 2;

// 5.10.6 "op".
enum class Op : uint16_t {
  kInvalid = 0,
  kRequest = 1,
  kResponse = 2,
  kRst = 3,
  kShutdown = 4,
  kRw = 5,
  kCreditUpdate = 6,
  kCreditRequest = 7,
};

// 5.10.6.5 SHUTDOWN flags: the sender will receive / send no more data.
inline constexpr uint32_t kShutdownRcv = 1;
inline constexpr uint32_t kShutdownSend = 2;
inline constexpr uint32_t kShutdownBoth = kShutdownRcv | kShutdownSend;

// struct virtio_vsock_hdr (5.10.6).
struct __attribute__((packed)) VsockHeader {
  uint64_t src_cid = 0;
  uint64_t dst_cid = 0;
  uint32_t src_port = 0;
  uint32_t dst_port = 0;
  uint32_t len = 0;
  uint16_t type = 0;
  uint16_t op = 0;
  uint32_t flags = 0;
  uint32_t buf_alloc = 0;
  uint32_t fwd_cnt = 0;
};
static_assert(sizeof(VsockHeader) == 44);

struct VsockPacket {
  VsockHeader hdr;
  // hdr.len payload bytes, as host spans into the chain's readable buffers (empty unless RW).
  std::vector<std::span<uint8_t>> payload;
  // The addresses are valid but the packet is not one uvm handles: a type other than STREAM or
  // an unknown op. The device answers it with RST (ResetReplyFor) and does nothing else.
  bool unsupported = false;
};

// Parses the packet of one TX-queue chain (5.10.6) from a guest whose CID is `guest_cid`.
//
// Returns an error (the device drops the packet, it cannot trust its addresses enough to reply)
// for: a header shorter than 44 bytes (it may span buffers); src_cid != guest_cid (spoofing);
// dst_cid != host; len > kMaxPayload; len larger than the readable bytes after the header; a
// non-RW op with len != 0 (Linux only sends payload with RW).
//
// len *smaller* than the readable bytes after the header is accepted and the surplus ignored: the
// spec only requires len to describe the payload, and a driver may post a buffer larger than
// what it filled.
Result<VsockPacket> ParsePacket(const Chain& chain, uint64_t guest_cid);

// The RST that answers `received` (5.10.6.6: addresses swapped, no payload), or nothing if
// `received` is itself an RST: replying to an RST with an RST would ping-pong forever.
std::optional<VsockHeader> ResetReplyFor(const VsockHeader& received);

// Payload bytes an RX chain can carry after the header (0 if not even a header fits).
uint64_t PayloadRoom(const ChainWriter& writer);

// Writes `hdr` (with len set to payload.size()) and `payload` into an RX-queue chain (5.10.6).
// Writes nothing and returns 0 unless header and payload fit entirely (flow-control accounting
// has already counted the payload, so a silent truncation would lose data); otherwise returns
// the bytes written, the used-ring length (2.7.8).
size_t WritePacket(ChainWriter& writer, const VsockHeader& hdr, std::span<const uint8_t> payload);

}  // namespace uvm::devices::virtio::vsock
