// A Linux tap interface as the virtio-net backend: /dev/net/tun with IFF_TAP | IFF_NO_PI |
// IFF_VNET_HDR, the vnet header size set to 12 (the virtio 1.x header) and the offloads
// (TUNSETOFFLOAD) following what the guest driver negotiated.
//
// TUNSETIFF attaches to an existing tap of that name, or creates a new (non-persistent) one, which
// needs CAP_NET_ADMIN; a new tap disappears when uvm closes it. The interface is not configured or
// brought up here: that is the host's business (ip link set TAP up, addresses, bridges).
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "devices/virtio/net/backend.h"

namespace uvm::devices::virtio::net {

class TapBackend final : public NetBackend {
 public:
  static Result<std::unique_ptr<TapBackend>> Open(const std::string& name);

  int fd() const override { return fd_.get(); }
  Result<void> SetGuestOffloads(uint64_t features) override;
  std::string Describe() const override { return "tap " + name_; }
  const std::string& name() const { return name_; }

 private:
  TapBackend(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
  UniqueFd fd_;
  std::string name_;
};

// TUN_F_* flags for TUNSETOFFLOAD from negotiated virtio-net features (exposed for tests).
unsigned TapOffloadFlags(uint64_t features);

}  // namespace uvm::devices::virtio::net
