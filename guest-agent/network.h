// The VM's network as the container sees it (the container shares the VM's network namespace:
// the VM is the isolation boundary). Loopback is always up, as in docker's `--net none`; with a
// Network (uvm run --net tap) the interface gets its MAC (if given), its address, and the gateway
// the default route.
#pragma once

#include <optional>

#include "base/result.h"
#include "guest-agent/protocol/messages.h"

namespace uvm::agent {

// Idempotent: an exec after the first finds everything in place and changes nothing.
Result<void> ConfigureNetwork(const std::optional<Network>& network);

}  // namespace uvm::agent
