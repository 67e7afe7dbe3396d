// Test helpers for vsock packets: header bytes, and the shared ChainBuilder.
#pragma once

#include <cstring>
#include <vector>

#include "devices/virtio/testing/chain_builder.h"
#include "devices/virtio/vsock/packet.h"

namespace uvm::devices::virtio::vsock::testing {

using virtio::testing::ChainBuilder;

inline std::vector<uint8_t> Bytes(const VsockHeader& h) {
  std::vector<uint8_t> out(sizeof(h));
  std::memcpy(out.data(), &h, sizeof(h));
  return out;
}

}  // namespace uvm::devices::virtio::vsock::testing
