// Test helpers for vsock packets: a guest's header, header bytes, and the shared ChainBuilder.
#pragma once

#include <cstring>
#include <vector>

#include "devices/virtio/testing/chain_builder.h"
#include "devices/virtio/vsock/packet.h"

namespace uvm::devices::virtio::vsock::testing {

using virtio::testing::ChainBuilder;

// A stream packet header from the guest `guest_cid`, port `src_port`, to host port `dst_port`;
// callers set len, flags and the credit fields they need.
inline VsockHeader GuestStreamHeader(uint64_t guest_cid, uint32_t src_port, uint32_t dst_port,
                                     Op op) {
  VsockHeader h{};
  h.src_cid = guest_cid;
  h.dst_cid = kHostCid;
  h.src_port = src_port;
  h.dst_port = dst_port;
  h.type = kTypeStream;
  h.op = static_cast<uint16_t>(op);
  return h;
}

inline std::vector<uint8_t> Bytes(const VsockHeader& h) {
  std::vector<uint8_t> out(sizeof(h));
  std::memcpy(out.data(), &h, sizeof(h));
  return out;
}

}  // namespace uvm::devices::virtio::vsock::testing
