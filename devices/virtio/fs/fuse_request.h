// FUSE requests as virtio-fs carries them (virtio 1.2, 5.11.6; <linux/fuse.h>): one request per
// descriptor chain, the readable part holding `fuse_in_header` and the operation's arguments (for
// WRITE, then the data), the writable part taking `fuse_out_header` and the reply.
//
// Everything in a chain is guest-chosen. ParseFuseRequest() copies the header and the arguments
// (bounded by kMaxArgBytes) out of guest memory, so a guest rewriting its buffers while the
// request is served cannot change what was checked; only WRITE's data stays in guest memory, as
// spans, and is moved to the file by the kernel. ArgReader hands the arguments out one struct or
// name at a time and refuses anything short, unterminated or not a single path component. Pure
// code: fuzzed by tests/fuzz/fs_request_fuzz.cc.
#pragma once

#include <linux/fuse.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "devices/virtio/chain.h"

namespace uvm::devices::virtio::fs {

// The largest argument block a request may carry: SETXATTR's value (XATTR_SIZE_MAX, 64 KiB) plus
// its name (XATTR_NAME_MAX + 1) and struct; SYMLINK's target (PATH_MAX) and name fit in it too.
inline constexpr uint32_t kMaxArgBytes = 64 * 1024 + 256 + 64;

struct FuseRequest {
  fuse_in_header header{};
  std::vector<uint8_t> args;  // the operation's arguments; for WRITE only its fuse_write_in
  // WRITE: the data, in guest memory (valid until the chain goes back to the guest).
  std::vector<std::span<uint8_t>> write_data;
  uint64_t write_bytes = 0;
};

// Why a chain is not a request.
enum class ParseFailure {
  kNoHeader,   // fewer readable bytes than a fuse_in_header: nothing to answer to
  kMalformed,  // a header, but its length or arguments are wrong: answer EINVAL
  kTooBig,     // arguments past kMaxArgBytes or WRITE data past max_write: answer E2BIG
};

struct ParseResult {
  std::optional<FuseRequest> request;
  ParseFailure failure = ParseFailure::kNoHeader;
  uint64_t unique = 0;  // the header's, when there is one (to answer a malformed request)
};

// `max_write`: the WRITE payload limit the session announced in FUSE_INIT.
ParseResult ParseFuseRequest(const Chain& chain, uint32_t max_write);

// Reads a request's arguments in order.
class ArgReader {
 public:
  explicit ArgReader(std::span<const uint8_t> args) : args_(args) {}

  // The next sizeof(T) bytes as a T; nullopt when fewer remain.
  template <class T>
  std::optional<T> Struct() {
    if (args_.size() - at_ < sizeof(T)) return std::nullopt;
    T value;
    std::memcpy(&value, args_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return value;
  }
  // The first `size` bytes of a struct that grew across protocol versions (the rest zero).
  template <class T>
  std::optional<T> StructPrefix(size_t size) {
    if (size > sizeof(T) || args_.size() - at_ < size) return std::nullopt;
    T value{};
    if (size > 0) std::memcpy(&value, args_.data() + at_, size);
    at_ += size;
    return value;
  }
  // A NUL-terminated string (without the NUL); nullopt if there is no NUL.
  std::optional<std::string_view> String();
  // A NUL-terminated directory entry name: 1..NAME_MAX bytes, no '/'. "." and ".." pass (the
  // caller decides what they mean).
  std::optional<std::string_view> Name();
  // The next `n` bytes.
  std::optional<std::span<const uint8_t>> Bytes(size_t n);
  size_t remaining() const { return args_.size() - at_; }

 private:
  std::span<const uint8_t> args_;
  size_t at_ = 0;
};

// Whether `name` is a valid single path component to create or look up on the host.
bool IsEntryName(std::string_view name);

}  // namespace uvm::devices::virtio::fs
