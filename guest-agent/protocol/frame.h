// Framing of agent messages: a 4-byte big-endian payload length, then that many bytes of JSON
// (messages.h). Lengths of 0 or above kMaxFrameBytes are refused: a peer cannot make the other
// side allocate more than that.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "guest-agent/protocol/messages.h"

namespace uvm::agent {

inline constexpr size_t kFrameHeaderBytes = 4;
inline constexpr size_t kMaxFrameBytes = 1 << 20;

Result<std::string> EncodeFrame(const Message& message);

// Incremental decoder: Feed() bytes as they arrive, Next() yields complete frames in order. After
// an error the decoder stays failed (a stream with a bad frame cannot be resynchronised).
class FrameDecoder {
 public:
  void Feed(std::string_view bytes) { buffer_.append(bytes); }
  // A decoded message, nullopt when more bytes are needed, or the error.
  Result<std::optional<Message>> Next();
  // Bytes received beyond the frames taken so far (on a stream connection: the first stdio bytes).
  std::string TakeRest() { return std::exchange(buffer_, {}); }

 private:
  std::string buffer_;
  bool failed_ = false;
};

using Deadline = std::chrono::steady_clock::time_point;

// Blocking helpers on a stream socket. ReadMessage reads exactly one frame (never beyond it, so a
// stream connection's data after its Hello stays in the socket); it fails at the deadline, at EOF
// and on a bad frame. WriteMessage writes a whole frame (the fd must be blocking).
Result<Message> ReadMessage(int fd, Deadline deadline);
Result<Message> ReadMessage(int fd);  // no deadline
Result<void> WriteMessage(int fd, const Message& message);

// Writes all of `data` (blocking fd), retrying short writes and EINTR; MSG_NOSIGNAL on sockets.
Result<void> WriteAll(int fd, std::string_view data);

}  // namespace uvm::agent
