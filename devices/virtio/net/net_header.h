// virtio-net's per-packet header and the checks on it (virtio 1.2, 5.1.6 "Device Operation").
//
// Every packet on the TX and RX queues starts with struct virtio_net_hdr. With VIRTIO_F_VERSION_1
// (the only mode uvm offers) the header is always 12 bytes: num_buffers is present even without
// VIRTIO_NET_F_MRG_RXBUF (5.1.6.1). The tap backend is opened with the same 12-byte header
// (TUNSETVNETHDRSZ), so a frame and its header pass between guest and tap unchanged apart from the
// checks below.
//
// TX headers are guest-controlled: ParseTxChain() is the parser of guest data for this device
// (fuzzed by tests/fuzz/net_tx_fuzz.cc). RX headers come from the host kernel; SanitizeRxHeader()
// still makes them match what the driver negotiated (5.1.6.4.1).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "devices/virtio/chain.h"

namespace uvm::devices::virtio::net {

// 5.1.3 "Feature bits" (bit numbers; use Bit() from virtio_spec.h for masks).
inline constexpr unsigned kNetFCsum = 0;       // device handles packets with partial checksum
inline constexpr unsigned kNetFGuestCsum = 1;  // driver handles packets with partial checksum
inline constexpr unsigned kNetFMac = 5;        // config space has the MAC address
inline constexpr unsigned kNetFGuestTso4 = 7;  // driver takes TSOv4 packets
inline constexpr unsigned kNetFGuestTso6 = 8;  // driver takes TSOv6 packets
inline constexpr unsigned kNetFGuestEcn = 9;   // ... with ECN
inline constexpr unsigned kNetFGuestUfo = 10;  // driver takes UFO packets
inline constexpr unsigned kNetFHostTso4 = 11;  // device takes TSOv4 packets
inline constexpr unsigned kNetFHostTso6 = 12;  // device takes TSOv6 packets
inline constexpr unsigned kNetFHostEcn = 13;   // ... with ECN
inline constexpr unsigned kNetFHostUfo = 14;   // device takes UFO packets
inline constexpr unsigned kNetFMrgRxbuf = 15;  // a packet may span several RX buffers
inline constexpr unsigned kNetFStatus = 16;    // config space has the link status

// 5.1.6 struct virtio_net_hdr.flags and gso_type.
inline constexpr uint8_t kHdrFNeedsCsum = 1;
inline constexpr uint8_t kHdrFDataValid = 2;  // RX only
inline constexpr uint8_t kHdrFRscInfo = 4;    // RX only
inline constexpr uint8_t kGsoNone = 0;
inline constexpr uint8_t kGsoTcpv4 = 1;
inline constexpr uint8_t kGsoUdp = 3;
inline constexpr uint8_t kGsoTcpv6 = 4;
inline constexpr uint8_t kGsoEcn = 0x80;

// 5.1.4: config space status bit.
inline constexpr uint16_t kNetSLinkUp = 1;

// Little-endian on the wire (1.4); uvm runs on x86-64 only (virtio_spec.h).
struct VirtioNetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
  uint16_t num_buffers;
};
static_assert(sizeof(VirtioNetHdr) == 12, "virtio 1.x net header is 12 bytes");

inline constexpr uint32_t kEthHeaderBytes = 14;
// The largest frame either side may pass: a 64 KiB GSO packet plus its Ethernet and VLAN headers.
// Linux never builds a larger one; anything larger is refused.
inline constexpr uint32_t kMaxFrameBytes = 65535 + kEthHeaderBytes + 4;

// One guest packet, validated; `data` points into guest memory (the Ethernet frame, after the
// header), `hdr` is a private copy so the guest cannot change it after the checks.
struct TxFrame {
  VirtioNetHdr hdr{};
  std::vector<std::span<uint8_t>> data;
  uint32_t frame_bytes = 0;
};

// The header rules of 5.1.6.2 against the negotiated `features`: only NEEDS_CSUM in flags (and
// only with VIRTIO_NET_F_CSUM; csum_start + csum_offset + 2 inside the frame), a GSO type only if
// its HOST_* feature was negotiated (ECN and UFO are never offered), gso_size non-zero for GSO.
Result<void> ValidateTxHeader(const VirtioNetHdr& hdr, uint64_t features, uint32_t frame_bytes);

// A TX chain: device-readable buffers only (5.1.6.2), the 12-byte header (possibly split across
// buffers), then an Ethernet frame of 14..kMaxFrameBytes bytes. An error means the packet is
// dropped (the chain is still returned to the driver).
Result<TxFrame> ParseTxChain(const Chain& chain, uint64_t features);

// The header the tap gave for a received frame, made to fit what the driver negotiated: without
// GUEST_CSUM flags must be 0 (5.1.6.4.1); a GSO type the driver did not accept is an error (the
// frame is dropped; the tap's offload settings keep this from happening). num_buffers becomes 1.
Result<VirtioNetHdr> SanitizeRxHeader(const VirtioNetHdr& from_tap, uint64_t features);

}  // namespace uvm::devices::virtio::net
