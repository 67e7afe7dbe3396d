#include "guest-agent/protocol/frame.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace uvm::agent {
namespace {

uint32_t LoadBe32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

Result<uint32_t> CheckLength(uint32_t length) {
  if (length == 0) return Err("agent frame: empty frame");
  if (length > kMaxFrameBytes) {
    return Err("agent frame: length " + std::to_string(length) + " exceeds the limit of " +
               std::to_string(kMaxFrameBytes));
  }
  return length;
}

// Reads exactly n bytes; fails at EOF, on errors and at the deadline (if any).
Result<void> ReadExact(int fd, char* out, size_t n, std::optional<Deadline> deadline) {
  size_t got = 0;
  while (got < n) {
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return Err("timed out waiting for the agent peer");
      pollfd p{fd, POLLIN, 0};
      int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 1 << 30)));
      if (r < 0 && errno != EINTR) return ErrnoErr("poll");
      if (r <= 0) continue;
    }
    ssize_t k = read(fd, out + got, n - got);
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return ErrnoErr("reading from the agent peer");
    }
    if (k == 0) {
      return Err(got == 0 ? "connection closed" : "connection closed in the middle of a frame");
    }
    got += static_cast<size_t>(k);
  }
  return {};
}

Result<Message> ReadMessageImpl(int fd, std::optional<Deadline> deadline) {
  char header[kFrameHeaderBytes];
  auto h = ReadExact(fd, header, sizeof header, deadline);
  if (!h) return tl::unexpected(h.error());
  UVM_TRY(uint32_t length, CheckLength(LoadBe32(header)));
  std::string payload(length, '\0');
  UVM_CHECK(ReadExact(fd, payload.data(), length, deadline));
  return DecodeMessage(payload);
}

}  // namespace

Result<std::string> EncodeFrame(const Message& message) {
  UVM_TRY(std::string payload, EncodeMessage(message));
  if (payload.size() > kMaxFrameBytes) {
    return Err("agent message of " + std::to_string(payload.size()) +
               " bytes exceeds the limit of " + std::to_string(kMaxFrameBytes));
  }
  uint32_t n = static_cast<uint32_t>(payload.size());
  std::string frame = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                       static_cast<char>(n >> 8), static_cast<char>(n)};
  return frame + payload;
}

Result<std::optional<Message>> FrameDecoder::Next() {
  if (failed_) return Err("agent frame: stream already failed");
  if (buffer_.size() < kFrameHeaderBytes) return std::optional<Message>();
  auto length = CheckLength(LoadBe32(buffer_.data()));
  if (!length) {
    failed_ = true;
    return tl::unexpected(length.error());
  }
  if (buffer_.size() < kFrameHeaderBytes + *length) return std::optional<Message>();
  auto message = DecodeMessage(std::string_view(buffer_).substr(kFrameHeaderBytes, *length));
  buffer_.erase(0, kFrameHeaderBytes + *length);
  if (!message) {
    failed_ = true;
    return tl::unexpected(message.error());
  }
  return std::optional<Message>(std::move(*message));
}

Result<Message> ReadMessage(int fd, Deadline deadline) { return ReadMessageImpl(fd, deadline); }
Result<Message> ReadMessage(int fd) { return ReadMessageImpl(fd, std::nullopt); }

Result<void> WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t k = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (k < 0 && errno == ENOTSOCK) k = write(fd, data.data(), data.size());
    if (k < 0) {
      if (errno == EINTR) continue;
      return ErrnoErr("writing to the agent peer");
    }
    data.remove_prefix(static_cast<size_t>(k));
  }
  return {};
}

Result<void> WriteMessage(int fd, const Message& message) {
  UVM_TRY(std::string frame, EncodeFrame(message));
  return WriteAll(fd, frame);
}

}  // namespace uvm::agent
