// libFuzzer target: virtio-net's parser of guest data, ParseTxChain() (virtio 1.2, 5.1.6.2), on
// TX chains built from arbitrary bytes and arbitrary negotiated features; SanitizeRxHeader() on
// the same header bytes as if the tap had sent them. A chain that reached the device has passed
// the chain walker, so only its contents and cut are hostile. ParseTxChain must refuse the chain
// or return a header that obeys the rules and frame spans that lie inside the chain's readable
// buffers and add up to frame_bytes. ASan (each buffer is its own heap block) and the checks
// below turn anything else into a crash.
//
// Input layout:
//   bytes 0-1    feature selector (LE u16): bit i offers the i-th entry of kFeatureBits
//   byte 2       number of buffers (mod 17); bit 7: add a device-writable buffer at the end
//   then per buffer {len u16 LE (mod 70000), bytes...} (zero-filled if the input runs out)
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "devices/virtio/chain.h"
#include "devices/virtio/net/net_header.h"
#include "devices/virtio/virtio_spec.h"

namespace {

using uvm::devices::virtio::Bit;
using uvm::devices::virtio::Chain;
using uvm::devices::virtio::ChainBuffer;
namespace net = uvm::devices::virtio::net;

constexpr unsigned kFeatureBits[] = {net::kNetFCsum,      net::kNetFGuestCsum, net::kNetFGuestTso4,
                                     net::kNetFGuestTso6, net::kNetFGuestEcn,  net::kNetFGuestUfo,
                                     net::kNetFHostTso4,  net::kNetFHostTso6,  net::kNetFHostEcn,
                                     net::kNetFHostUfo,   net::kNetFMrgRxbuf,  net::kNetFStatus};

bool Inside(const Chain& chain, const uint8_t* p, size_t n) {
  for (const ChainBuffer& b : chain.readable) {
    if (p >= b.host && n <= b.len && p - b.host <= static_cast<ptrdiff_t>(b.len - n)) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint16_t selector = static_cast<uint16_t>(data[0] | data[1] << 8);
  uint64_t features = Bit(uvm::devices::virtio::kFeatureVersion1);
  for (size_t i = 0; i < std::size(kFeatureBits); ++i) {
    if (selector & (1u << i)) features |= Bit(kFeatureBits[i]);
  }
  const size_t nbufs = (data[2] & 0x7f) % 17;
  const bool writable = data[2] & 0x80;
  size_t at = 3;
  std::vector<std::unique_ptr<uint8_t[]>> blocks;
  Chain chain;
  for (size_t i = 0; i < nbufs; ++i) {
    uint32_t len = 0;
    if (at + 2 <= size) len = static_cast<uint32_t>(data[at] | data[at + 1] << 8) % 70000;
    at += 2;
    auto block = std::make_unique<uint8_t[]>(len == 0 ? 1 : len);
    std::memset(block.get(), 0, len);
    const size_t have = at < size ? std::min<size_t>(len, size - at) : 0;
    if (have) std::memcpy(block.get(), data + at, have);
    at += have;
    chain.readable.push_back({0x1000 * (i + 1), block.get(), len});
    blocks.push_back(std::move(block));
  }
  if (writable) {
    blocks.push_back(std::make_unique<uint8_t[]>(64));
    chain.writable.push_back({0x100000, blocks.back().get(), 64});
  }

  auto frame = net::ParseTxChain(chain, features);
  if (frame) {
    if (writable) __builtin_trap();
    const net::VirtioNetHdr& h = frame->hdr;
    if (h.flags & ~net::kHdrFNeedsCsum) __builtin_trap();
    if ((h.flags & net::kHdrFNeedsCsum) &&
        (!(features & Bit(net::kNetFCsum)) ||
         uint32_t{h.csum_start} + h.csum_offset + 2 > frame->frame_bytes)) {
      __builtin_trap();
    }
    if (h.gso_type != net::kGsoNone && h.gso_size == 0) __builtin_trap();
    if (frame->frame_bytes < net::kEthHeaderBytes || frame->frame_bytes > net::kMaxFrameBytes) {
      __builtin_trap();
    }
    uint64_t total = 0;
    for (auto span : frame->data) {
      if (!Inside(chain, span.data(), span.size())) __builtin_trap();
      // Touch every byte: ASan reports any span past its block.
      volatile uint8_t sink = 0;
      for (uint8_t b : span) sink = sink ^ b;
      (void)sink;
      total += span.size();
    }
    if (total != frame->frame_bytes) __builtin_trap();
  }

  if (nbufs > 0 && chain.readable[0].len >= sizeof(net::VirtioNetHdr)) {
    net::VirtioNetHdr from_tap;
    std::memcpy(&from_tap, chain.readable[0].host, sizeof from_tap);
    auto rx = net::SanitizeRxHeader(from_tap, features);
    if (rx) {
      if (rx->num_buffers != 1) __builtin_trap();
      if (!(features & Bit(net::kNetFGuestCsum)) && rx->flags != 0) __builtin_trap();
    }
  }
  return 0;
}
