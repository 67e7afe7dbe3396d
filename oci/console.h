// A container's terminal as runc gives one to an engine: a pty on the host whose master goes to
// the engine's --console-socket (SCM_RIGHTS, the bytes "/dev/ptmx"), the slave staying with the
// host process that relays it into the VM.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "base/result.h"
#include "base/unique_fd.h"

namespace uvm::oci {

// With `terminal`: a pty whose master went to `console_socket`; its slave. Without: no
// descriptor. runc's rules (and words) on --console-socket with and without a terminal.
Result<UniqueFd> TerminalForEngine(bool terminal, const std::string& console_socket);

// The window size of terminal `fd` (rows, cols); 24x80 when it has none.
std::pair<uint16_t, uint16_t> WindowSize(int fd);

}  // namespace uvm::oci
