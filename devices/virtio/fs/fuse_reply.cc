#include "devices/virtio/fs/fuse_reply.h"

#include <cerrno>

namespace uvm::devices::virtio::fs {

uint64_t FuseReply::body_room() const {
  const uint64_t room = chain_.writable_bytes();
  return room < sizeof(fuse_out_header) ? 0 : room - sizeof(fuse_out_header);
}

void FuseReply::WriteHeader(int32_t error, uint64_t body_len) {
  fuse_out_header h{};
  h.len = static_cast<uint32_t>(sizeof(h) + body_len);
  h.error = error;
  h.unique = unique_;
  ChainWriter writer(chain_);
  if (writer.WriteObj(h)) written_ = h.len;
  answered_ = true;
}

void FuseReply::Error(int err) {
  if (answered_) return;
  WriteHeader(-(err > 0 ? err : EIO), 0);
}

bool FuseReply::Ok(std::span<const uint8_t> body) {
  if (answered_) return false;
  if (body.size() > body_room()) {
    Error(EINVAL);
    return false;
  }
  ChainWriter writer(chain_);
  writer.Skip(sizeof(fuse_out_header));
  writer.Write(body);
  WriteHeader(0, body.size());
  return written_ != 0;
}

uint64_t FuseReply::DataIovecs(uint64_t max, std::vector<iovec>& out) {
  ChainWriter writer(chain_);
  if (writer.Skip(sizeof(fuse_out_header)) < sizeof(fuse_out_header)) return 0;
  return writer.TakeIovecs(max, out);
}

void FuseReply::CommitData(uint64_t n) {
  if (answered_) return;
  if (chain_.writable_bytes() < sizeof(fuse_out_header)) {
    answered_ = true;
    return;
  }
  WriteHeader(0, n);
}

}  // namespace uvm::devices::virtio::fs
