#include "devices/virtio/vsock/packet.h"

#include <string>

namespace uvm::devices::virtio::vsock {
namespace {

bool KnownOp(uint16_t op) {
  return op >= static_cast<uint16_t>(Op::kRequest) &&
         op <= static_cast<uint16_t>(Op::kCreditRequest);
}

}  // namespace

Result<VsockPacket> ParsePacket(const Chain& chain, uint64_t guest_cid) {
  ChainReader reader(chain);
  VsockPacket pkt;
  if (!reader.ReadObj(pkt.hdr)) {
    return Err("vsock: TX packet shorter than its " + std::to_string(sizeof(VsockHeader)) +
               "-byte header (" + std::to_string(chain.readable_bytes()) + " bytes)");
  }
  const VsockHeader& h = pkt.hdr;
  // 5.10.6: the device must not accept a packet whose source is not the guest's own CID.
  if (h.src_cid != guest_cid) {
    return Err("vsock: TX packet with src_cid " + std::to_string(h.src_cid) + ", guest CID is " +
               std::to_string(guest_cid));
  }
  if (h.dst_cid != kHostCid) {
    return Err("vsock: TX packet for CID " + std::to_string(h.dst_cid) +
               ", only the host (2) is "
               "reachable");
  }
  if (h.len > kMaxPayload) {
    return Err("vsock: TX packet len " + std::to_string(h.len) + " exceeds " +
               std::to_string(kMaxPayload));
  }
  if (h.len > reader.remaining()) {
    return Err("vsock: TX packet len " + std::to_string(h.len) + " but only " +
               std::to_string(reader.remaining()) + " payload bytes");
  }
  if (h.type != kTypeStream || !KnownOp(h.op)) {
    pkt.unsupported = true;
    return pkt;
  }
  if (h.len != 0 && h.op != static_cast<uint16_t>(Op::kRw)) {
    return Err("vsock: TX packet op " + std::to_string(h.op) + " carries " + std::to_string(h.len) +
               " payload bytes");
  }
  pkt.payload = reader.Take(h.len);
  return pkt;
}

std::optional<VsockHeader> ResetReplyFor(const VsockHeader& received) {
  if (received.op == static_cast<uint16_t>(Op::kRst)) return std::nullopt;
  VsockHeader r;
  r.src_cid = received.dst_cid;
  r.dst_cid = received.src_cid;
  r.src_port = received.dst_port;
  r.dst_port = received.src_port;
  // Linux's reset_no_sock echoes the type, so the peer matches the RST to its socket.
  r.type = received.type;
  r.op = static_cast<uint16_t>(Op::kRst);
  return r;
}

uint64_t PayloadRoom(const ChainWriter& writer) {
  const uint64_t room = writer.remaining();
  return room < sizeof(VsockHeader) ? 0 : room - sizeof(VsockHeader);
}

size_t WritePacket(ChainWriter& writer, const VsockHeader& hdr, std::span<const uint8_t> payload) {
  if (payload.size() > kMaxPayload || PayloadRoom(writer) < payload.size() ||
      writer.remaining() < sizeof(VsockHeader)) {
    return 0;
  }
  VsockHeader h = hdr;
  h.len = static_cast<uint32_t>(payload.size());
  const uint64_t before = writer.written();
  writer.WriteObj(h);
  writer.Write(payload);
  return static_cast<size_t>(writer.written() - before);
}

}  // namespace uvm::devices::virtio::vsock
