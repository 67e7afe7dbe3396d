// The host's half of a VM's per-exec identity (guest-agent/identity.h): stamps an ExecRequest
// with the host's wall clock and fresh random bytes just before it is sent, so a clone of a
// template neither keeps the template's clock nor shares its random numbers with other clones.
#pragma once

#include "base/result.h"
#include "guest-agent/protocol/messages.h"

namespace uvm::agent {

// Bytes of host entropy per exec: a full 256-bit reseed of the guest's CRNG.
inline constexpr size_t kExecEntropyBytes = kMinEntropyBytes;

// Sets request.realtime_ns (CLOCK_REALTIME now) and request.entropy (getrandom(2), hex).
Result<void> StampIdentity(ExecRequest& request);

}  // namespace uvm::agent
