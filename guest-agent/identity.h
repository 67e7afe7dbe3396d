// The per-exec identity of the VM (ARCHITECTURE.md "The agent"): a clone resumes with its
// template's wall clock and random-number state, so every Exec carries the host's clock and fresh
// host entropy and the agent applies them before the container's process starts. Done per exec, so
// cold boots and clones take the same path. (The hostname, the other per-clone identity, is set in
// the container's own UTS namespace by spawn.cc.)
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "base/result.h"
#include "guest-agent/protocol/messages.h"

namespace uvm::agent {

// The system calls behind ApplyIdentity, replaceable so tests never touch the host's clock or
// its entropy pool.
struct IdentityOps {
  std::function<uint64_t()> realtime_now_ns;                        // CLOCK_REALTIME
  std::function<Result<void>(uint64_t ns)> set_realtime;            // clock_settime
  std::function<Result<void>(std::string_view bytes)> add_entropy;  // RNDADDENTROPY, credited
  std::function<Result<void>()> reseed_crng;                        // RNDRESEEDCRNG
};

// The real ones (the agent is PID 1 and root: CAP_SYS_TIME and CAP_SYS_ADMIN).
IdentityOps SystemIdentityOps();

// Steps the clock only when it is off by more than this: the request's time is already a little
// old when it arrives, and a cold-booted VM's clock is right to within its transit time.
inline constexpr uint64_t kClockToleranceNs = 1'000'000;

// Sets the clock (realtime_ns != 0) and mixes the entropy into the kernel's pool, then reseeds
// the CRNG. A failed reseed is logged, not returned: crediting 256 bits already reseeds a CRNG
// that was not ready, and a kernel before 4.17 has no RNDRESEEDCRNG. Other failures are one line.
Result<void> ApplyIdentity(const ExecRequest& request, const IdentityOps& ops);

}  // namespace uvm::agent
