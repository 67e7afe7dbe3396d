#include "devices/virtio/net/net_header.h"

#include <string>

#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::net {
namespace {

bool Has(uint64_t features, unsigned bit) { return (features & Bit(bit)) != 0; }

// The feature a GSO type (without the ECN bit) needs on the receiving side of `dir`; -1: unknown.
int GsoFeature(uint8_t gso, bool tx) {
  switch (gso) {
    case kGsoTcpv4:
      return tx ? kNetFHostTso4 : kNetFGuestTso4;
    case kGsoTcpv6:
      return tx ? kNetFHostTso6 : kNetFGuestTso6;
    case kGsoUdp:
      return tx ? kNetFHostUfo : kNetFGuestUfo;
    default:
      return -1;
  }
}

Result<void> CheckGso(const VirtioNetHdr& hdr, uint64_t features, bool tx) {
  if (hdr.gso_type == kGsoNone) return {};
  const uint8_t type = hdr.gso_type & ~kGsoEcn;
  const int needed = GsoFeature(type, tx);
  if (needed < 0) return Err("unknown gso_type " + std::to_string(hdr.gso_type));
  if (!Has(features, static_cast<unsigned>(needed))) {
    return Err("gso_type " + std::to_string(hdr.gso_type) + " without its feature");
  }
  if ((hdr.gso_type & kGsoEcn) && !Has(features, tx ? kNetFHostEcn : kNetFGuestEcn)) {
    return Err("GSO ECN bit without the ECN feature");
  }
  if (hdr.gso_size == 0) return Err("GSO packet with gso_size 0");
  return {};
}

}  // namespace

Result<void> ValidateTxHeader(const VirtioNetHdr& hdr, uint64_t features, uint32_t frame_bytes) {
  // DATA_VALID and RSC_INFO are for received packets only (5.1.6.2.1).
  if (hdr.flags & ~kHdrFNeedsCsum) return Err("bad TX flags " + std::to_string(hdr.flags));
  if (hdr.flags & kHdrFNeedsCsum) {
    if (!Has(features, kNetFCsum)) return Err("NEEDS_CSUM without VIRTIO_NET_F_CSUM");
    const uint32_t end = uint32_t{hdr.csum_start} + hdr.csum_offset + 2;  // the u16 checksum
    if (end > frame_bytes) {
      return Err("checksum field at " + std::to_string(end - 2) + " outside a " +
                 std::to_string(frame_bytes) + "-byte frame");
    }
  }
  return CheckGso(hdr, features, /*tx=*/true);
}

Result<TxFrame> ParseTxChain(const Chain& chain, uint64_t features) {
  if (!chain.writable.empty()) return Err("TX chain has device-writable buffers");
  ChainReader reader(chain);
  TxFrame frame;
  if (!reader.ReadObj(frame.hdr)) return Err("TX chain shorter than the 12-byte header");
  const uint64_t bytes = reader.remaining();
  if (bytes < kEthHeaderBytes) return Err("TX frame shorter than an Ethernet header");
  if (bytes > kMaxFrameBytes) return Err("TX frame of " + std::to_string(bytes) + " bytes");
  frame.frame_bytes = static_cast<uint32_t>(bytes);
  UVM_CHECK(ValidateTxHeader(frame.hdr, features, frame.frame_bytes));
  frame.data = reader.Take(bytes);
  // num_buffers is meaningless on TX (5.1.6.2); the tap ignores it, pass zero rather than guest
  // bytes.
  frame.hdr.num_buffers = 0;
  return frame;
}

Result<VirtioNetHdr> SanitizeRxHeader(const VirtioNetHdr& from_tap, uint64_t features) {
  VirtioNetHdr h = from_tap;
  if (!Has(features, kNetFGuestCsum)) {
    if (h.flags & kHdrFNeedsCsum) return Err("partial checksum for a driver without GUEST_CSUM");
    h.flags = 0;
  } else {
    h.flags &= kHdrFNeedsCsum | kHdrFDataValid;
  }
  UVM_CHECK(CheckGso(h, features, /*tx=*/false));
  h.num_buffers = 1;
  return h;
}

}  // namespace uvm::devices::virtio::net
