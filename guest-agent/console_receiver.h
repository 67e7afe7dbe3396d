// The agent's end of crun's --console-socket: crun makes a container's terminal inside the
// container (its own devpts, so the process's ttyname() names it) and sends the master here with
// SCM_RIGHTS, as runc and crun do to an engine's console socket.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace uvm::agent {

class ConsoleReceiver {
 public:
  // Listens on `path` (a socket file there is replaced).
  static Result<ConsoleReceiver> Listen(const std::string& path);

  // The first descriptor a client sends, waiting at most `timeout`; `gave_up` is asked every few
  // milliseconds and ends the wait early (crun exited without sending one).
  Result<UniqueFd> Receive(std::chrono::milliseconds timeout, const std::function<bool()>& gave_up);

 private:
  UniqueFd listener_;
};

}  // namespace uvm::agent
