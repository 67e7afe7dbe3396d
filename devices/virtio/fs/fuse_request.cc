#include "devices/virtio/fs/fuse_request.h"

#include <climits>

namespace uvm::devices::virtio::fs {

ParseResult ParseFuseRequest(const Chain& chain, uint32_t max_write) {
  ParseResult result;
  ChainReader reader(chain);
  FuseRequest request;
  if (!reader.ReadObj(request.header)) return result;
  const fuse_in_header& h = request.header;
  result.unique = h.unique;
  result.failure = ParseFailure::kMalformed;
  // `len` counts the header and everything after it; the chain must hold all of it. Bytes past
  // `len` are ignored.
  if (h.len < sizeof(fuse_in_header) || h.len - sizeof(fuse_in_header) > reader.remaining()) {
    return result;
  }
  const uint64_t arg_bytes = h.len - sizeof(fuse_in_header);
  if (h.opcode == FUSE_WRITE) {
    fuse_write_in in;
    if (arg_bytes < sizeof(in) || !reader.ReadObj(in)) return result;
    if (in.size != arg_bytes - sizeof(in)) return result;
    if (in.size > max_write) {
      result.failure = ParseFailure::kTooBig;
      return result;
    }
    request.args.resize(sizeof(in));
    std::memcpy(request.args.data(), &in, sizeof(in));
    request.write_data = reader.Take(in.size);
    request.write_bytes = in.size;
  } else {
    if (arg_bytes > kMaxArgBytes) {
      result.failure = ParseFailure::kTooBig;
      return result;
    }
    request.args.resize(arg_bytes);
    reader.Read(request.args);
  }
  result.request = std::move(request);
  return result;
}

std::optional<std::string_view> ArgReader::String() {
  const auto rest = args_.subspan(at_);
  if (rest.empty()) return std::nullopt;
  const void* nul = std::memchr(rest.data(), '\0', rest.size());
  if (!nul) return std::nullopt;
  const size_t len = static_cast<const uint8_t*>(nul) - rest.data();
  at_ += len + 1;
  return std::string_view(reinterpret_cast<const char*>(rest.data()), len);
}

std::optional<std::string_view> ArgReader::Name() {
  auto s = String();
  if (!s || !IsEntryName(*s)) return std::nullopt;
  return s;
}

std::optional<std::span<const uint8_t>> ArgReader::Bytes(size_t n) {
  if (args_.size() - at_ < n) return std::nullopt;
  auto out = args_.subspan(at_, n);
  at_ += n;
  return out;
}

bool IsEntryName(std::string_view name) {
  return !name.empty() && name.size() <= NAME_MAX && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

}  // namespace uvm::devices::virtio::fs
