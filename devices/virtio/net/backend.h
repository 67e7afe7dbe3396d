// Where virtio-net frames go on the host. The device does the I/O itself on fd(): each read()
// returns one frame and each writev() sends one, both preceded by the 12-byte virtio_net_hdr
// (net_header.h). The tap (tap_backend.h) is the real one; tests use a SOCK_SEQPACKET socketpair,
// which keeps frame boundaries the same way.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace uvm::devices::virtio::net {

class NetBackend {
 public:
  virtual ~NetBackend() = default;
  // Non-blocking; owned by the backend.
  virtual int fd() const = 0;
  // The negotiated features (0 on reset): the backend must only hand the device received frames
  // whose header the driver accepts (checksum offload with GUEST_CSUM, TSO with GUEST_TSO4/6).
  virtual Result<void> SetGuestOffloads(uint64_t features) = 0;
  // For messages: "tap uvm0".
  virtual std::string Describe() const = 0;
};

}  // namespace uvm::devices::virtio::net
