// The answer to one FUSE request, written into the writable part of its chain: a
// fuse_out_header (len = header + body, error = 0 or -errno) and the body. The chain's writable
// space is guest-chosen: a body that does not fit turns into an EINVAL reply when the header fits,
// and into nothing at all (a used length of 0) when even the header does not. The device puts
// written() into the used ring.
#pragma once

#include <linux/fuse.h>
#include <sys/uio.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "devices/virtio/chain.h"

namespace uvm::devices::virtio::fs {

class FuseReply {
 public:
  FuseReply(const Chain& chain, uint64_t unique) : chain_(chain), unique_(unique) {}

  // A failure: `err` is a positive errno.
  void Error(int err);
  // Success with `body` (empty for operations that answer with the header alone). False when the
  // body did not fit (the guest got EINVAL or nothing instead): what the body handed out (a
  // lookup, an open file) must then be taken back.
  bool Ok(std::span<const uint8_t> body = {});
  template <class T>
  bool OkStruct(const T& body) {
    return Ok(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&body), sizeof(body)));
  }
  // Success with two structs back to back (CREATE: entry then open).
  template <class A, class B>
  bool OkStructs(const A& a, const B& b) {
    uint8_t buf[sizeof(A) + sizeof(B)];
    std::memcpy(buf, &a, sizeof(A));
    std::memcpy(buf + sizeof(A), &b, sizeof(B));
    return Ok(buf);
  }

  // For READ: iovecs over at most `max` bytes of the writable space after the header, to read
  // into; then CommitData(n) with how many bytes arrived (n <= what was taken).
  uint64_t DataIovecs(uint64_t max, std::vector<iovec>& out);
  void CommitData(uint64_t n);

  // How many bytes of the body may be written (the writable space past the header).
  uint64_t body_room() const;
  bool answered() const { return answered_; }
  uint32_t written() const { return written_; }

 private:
  void WriteHeader(int32_t error, uint64_t body_len);

  const Chain& chain_;
  uint64_t unique_;
  bool answered_ = false;
  uint32_t written_ = 0;
};

}  // namespace uvm::devices::virtio::fs
