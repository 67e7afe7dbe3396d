// libFuzzer target: ParsePacket() on TX chains built from arbitrary bytes, each parsed packet fed
// to one Connection (virtio 1.2, 5.10). A chain that reached the vsock device has passed the
// chain walker, so only its contents and cut are hostile: the header, its split across buffers,
// len, the CIDs, the ops and their order, the credit fields. ParsePacket must refuse or describe
// every chain with payload spans inside the chain's readable buffers; the Connection must keep
// its invariants whatever the guest sends. ASan (each buffer is its own heap block) and the
// checks below turn anything else into a crash.
//
// Input layout:
//   byte 0       bit 0: host-initiated connection (Connect() first), else guest-initiated
//   then packets, each: {nbufs u8 (1-8)} then nbufs records {len u16 LE, bytes...}, then one
//   host-event byte: bits 0-1 choose nothing / OnHostData / OnHostConsumed / OnHostShutdown, the
//   rest is the amount or flags. A readable buffer takes its contents from the input that follows
//   its length (zero-filled if the input runs out).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "devices/virtio/vsock/connection.h"
#include "devices/virtio/vsock/packet.h"

namespace {

using uvm::devices::virtio::Chain;
using uvm::devices::virtio::ChainBuffer;
using uvm::devices::virtio::ChainWriter;
namespace vs = uvm::devices::virtio::vsock;

constexpr uint64_t kGuestCid = 3;
constexpr uint32_t kHostBuf = 4096;
constexpr size_t kMaxPackets = 64;
constexpr uint32_t kMaxLen = 4096;

bool Inside(const Chain& chain, const uint8_t* p, size_t n) {
  for (const ChainBuffer& b : chain.readable) {
    if (p >= b.host && n <= b.len && p - b.host <= static_cast<ptrdiff_t>(b.len - n)) return true;
  }
  return false;
}

// Every header the host emits must be a well-formed host packet for this connection.
void CheckReply(const vs::VsockHeader& h) {
  if (h.src_cid != vs::kHostCid || h.dst_cid != kGuestCid || h.type != vs::kTypeStream ||
      h.buf_alloc != kHostBuf) {
    __builtin_trap();
  }
  // Round-trip through an RX chain.
  auto block = std::make_unique<uint8_t[]>(sizeof(vs::VsockHeader));
  Chain rx;
  rx.writable.push_back({0x1000, block.get(), sizeof(vs::VsockHeader)});
  ChainWriter w(rx);
  if (vs::WritePacket(w, h, {}) != sizeof(vs::VsockHeader)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  vs::Connection conn(kGuestCid, 5000, 1234, kHostBuf);
  if (data[0] & 1) {
    auto req = conn.Connect();
    if (!req) __builtin_trap();
    CheckReply(*req);
  }
  size_t pos = 1;
  uint64_t delivered = 0;  // guest bytes handed to the host and not yet consumed
  for (size_t n = 0; n < kMaxPackets && pos < size; ++n) {
    const size_t nbufs = data[pos++] % 8 + 1;
    std::vector<std::unique_ptr<uint8_t[]>> arena;
    Chain chain;
    for (size_t i = 0; i < nbufs && pos + 2 <= size; ++i) {
      const uint32_t len = (data[pos] | (uint32_t{data[pos + 1]} << 8)) % (kMaxLen + 1);
      pos += 2;
      arena.push_back(std::make_unique<uint8_t[]>(len == 0 ? 1 : len));
      std::memset(arena.back().get(), 0, len == 0 ? 1 : len);
      const size_t copy = std::min<size_t>(len, size - pos);
      std::memcpy(arena.back().get(), data + pos, copy);
      pos += copy;
      chain.readable.push_back({0x1000 * (i + 1), arena.back().get(), len});
    }

    auto parsed = vs::ParsePacket(chain, kGuestCid);
    if (parsed) {
      const vs::VsockPacket& p = *parsed;
      if (p.hdr.src_cid != kGuestCid || p.hdr.dst_cid != vs::kHostCid) __builtin_trap();
      uint64_t total = 0;
      for (auto s : p.payload) {
        if (!Inside(chain, s.data(), s.size())) __builtin_trap();
        total += s.size();
      }
      if (!p.unsupported && total != p.hdr.len) __builtin_trap();
      if (p.hdr.len > vs::kMaxPayload) __builtin_trap();
      if (auto rst = vs::ResetReplyFor(p.hdr)) {
        if (rst->op != static_cast<uint16_t>(vs::Op::kRst) || p.hdr.op == rst->op) __builtin_trap();
      }

      // Address the packet to the connection (the device's lookup would).
      vs::VsockPacket q = p;
      q.hdr.src_port = 1234;
      q.hdr.dst_port = 5000;
      const bool was_closed = conn.state() == vs::ConnState::kClosed;
      vs::Actions a = conn.OnGuestPacket(q);
      uint64_t got = 0;
      for (auto s : a.deliver) {
        if (!Inside(chain, s.data(), s.size())) __builtin_trap();
        volatile uint8_t sum = 0;
        for (uint8_t b : s) sum = sum + b;
        got += s.size();
      }
      delivered += got;
      // Never more unconsumed guest data than the buffer we offered.
      if (delivered > kHostBuf) __builtin_trap();
      if (conn.rx_cnt() - conn.fwd_cnt() != delivered) __builtin_trap();
      for (const vs::VsockHeader& r : a.replies) CheckReply(r);
      // `closed` reports the event that closed the connection, once; closed stays closed.
      if (a.closed != (!was_closed && conn.state() == vs::ConnState::kClosed)) __builtin_trap();
      if (was_closed && (!a.replies.empty() || !a.deliver.empty())) __builtin_trap();
      if (a.accept_requested) {
        auto resp = (q.hdr.flags & 1) ? conn.Refuse() : conn.Accept();
        if (!resp) __builtin_trap();
        CheckReply(*resp);
      }
    }

    if (pos >= size) break;
    const uint8_t ev = data[pos++];
    const uint32_t amount = ev >> 2;
    switch (ev & 3) {
      case 1: {
        const uint32_t credit = conn.SendCredit();
        auto h = conn.OnHostData(std::min(amount * 64, credit));
        if (!h) __builtin_trap();
        CheckReply(*h);
        // Beyond the credit (which may be a whole 4 GiB window) or beyond one packet: refused.
        const uint32_t left = conn.SendCredit();
        if (left < UINT32_MAX && conn.OnHostData(left + 1)) __builtin_trap();
        if (conn.OnHostData(vs::kMaxPayload + 1)) __builtin_trap();
        break;
      }
      case 2: {
        const uint32_t take = static_cast<uint32_t>(std::min<uint64_t>(amount * 16, delivered));
        auto u = conn.OnHostConsumed(take);
        if (!u) __builtin_trap();
        delivered -= take;
        for (const vs::VsockHeader& r : *u) CheckReply(r);
        break;
      }
      case 3: {
        auto s = conn.OnHostShutdown(amount & 3);
        if (s) CheckReply(*s);
        break;
      }
      default:
        break;
    }
  }
  return 0;
}
