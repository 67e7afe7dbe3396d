// Stdio connections waiting for their exec: each arrives on its own connection starting with
// Hello{stream, exec_id, kind}, possibly before the control thread asks for them.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>

#include "base/result.h"
#include "base/unique_fd.h"
#include "guest-agent/protocol/frame.h"

namespace uvm::agent {

using StdioFds = std::array<UniqueFd, 3>;  // indexed by StreamKind

class StreamTable {
 public:
  // Announces an exec id whose streams may now attach.
  void Expect(uint64_t exec_id);
  // Hands over a stream connection; false (the caller closes it) for an id not expected or a
  // stream already attached.
  bool Attach(uint64_t exec_id, StreamKind kind, UniqueFd fd);
  // Waits until all three streams of `exec_id` attached and takes them; on timeout forgets the id.
  Result<StdioFds> Take(uint64_t exec_id, Deadline deadline);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, StdioFds> pending_;
};

}  // namespace uvm::agent
