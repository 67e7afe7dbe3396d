// The lab's relay: the command's stdin to L1, its stdout and stderr frames from L1 to ours, its
// exit status, L1's console kept for a failure report, and the watchdogs (--timeout, a stalled
// L1, a signal) that end QEMU.
#pragma once

#include <optional>
#include <string>

#include "base/result.h"
#include "lab/qemu.h"

namespace uvm::lab {

// Writes all of data to one of our own stdio fds, which may be non-blocking (inherited
// O_NONBLOCK). A reader that went away (EPIPE) makes the rest of that stream vanish, as with any
// pipeline: `broken` is then set.
void Emit(int fd, const char* data, size_t size, bool& broken);

// Everything the relay learned about the run.
struct Outcome {
  std::optional<int> status;           // from the kExit frame
  std::optional<std::string> failure;  // from a kLabFailure frame, or a protocol error
  int interrupted_by = 0;              // SIGINT/SIGTERM that made us kill QEMU
  int timed_out_after_s = 0;           // the watchdog killed QEMU
  int stalls = 0;                      // times L1 was found stalled (StallDetector)
  bool killed_stalled = false;         // ... and QEMU was killed for it
  int qemu_wait_status = 0;
  std::string console;  // the tail of the L1 console
};

// Relays until QEMU exits. Signals arrive on `sigfd`; `timeout_s` > 0 kills QEMU after that
// many seconds.
Result<Outcome> RelayUntilQemuExits(Qemu& qemu, int sigfd, int timeout_s, bool verbose,
                                    bool stdin_closed);

}  // namespace uvm::lab
