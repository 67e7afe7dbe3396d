#include "store/layer_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace uvm::store {

Result<std::unique_ptr<LayerStream>> LayerStream::OpenFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoErr(path);
  return Open(std::move(fd), path);
}

Result<std::unique_ptr<LayerStream>> LayerStream::Open(UniqueFd fd, std::string name) {
  std::unique_ptr<LayerStream> s(new LayerStream(std::move(fd), std::move(name)));
  UVM_TRY(size_t n, s->Fill());
  const uint8_t* p = s->in_.data();
  if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
    s->gzip_ = true;
    // 16 + MAX_WBITS: a gzip header and trailer (RFC 1952), checked by zlib.
    if (inflateInit2(&s->z_, 16 + MAX_WBITS) != Z_OK) return Err(s->name_ + ": zlib init failed");
    s->zinit_ = true;
  } else if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) {
    return Err(s->name_ + ": zstd-compressed; uvm reads tar and gzip layers");
  } else if (n >= 3 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h') {
    return Err(s->name_ + ": bzip2-compressed; uvm reads tar and gzip layers");
  } else if (n >= 6 && std::memcmp(p,
                                   "\xfd"
                                   "7zXZ\0",
                                   6) == 0) {
    return Err(s->name_ + ": xz-compressed; uvm reads tar and gzip layers");
  }
  return s;
}

LayerStream::~LayerStream() {
  if (zinit_) inflateEnd(&z_);
}

Result<size_t> LayerStream::Fill() {
  if (in_pos_ < in_len_) return in_len_ - in_pos_;
  in_pos_ = in_len_ = 0;
  if (eof_) return 0;
  for (;;) {
    ssize_t n = ::read(fd_.get(), in_.data(), in_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoErr("reading " + name_);
    if (n == 0) {
      eof_ = true;
      return 0;
    }
    in_len_ = static_cast<size_t>(n);
    blob_size_ += in_len_;
    blob_hash_.Update(std::span<const uint8_t>(in_.data(), in_len_));
    return in_len_;
  }
}

Result<std::span<const uint8_t>> LayerStream::Next() {
  for (;;) {
    UVM_TRY(size_t avail, Fill());
    if (!gzip_) {
      std::span<const uint8_t> out(in_.data() + in_pos_, avail);
      in_pos_ = in_len_;
      diff_hash_.Update(out);
      return out;
    }
    if (avail == 0) {
      if (!stream_end_) return Err(name_ + ": truncated gzip stream");
      return std::span<const uint8_t>();
    }
    if (stream_end_) {
      // A gzip file may hold several members, one after another (RFC 1952 §2.2).
      if (inflateReset(&z_) != Z_OK) return Err(name_ + ": zlib reset failed");
      stream_end_ = false;
    }
    z_.next_in = in_.data() + in_pos_;
    z_.avail_in = static_cast<uInt>(avail);
    z_.next_out = out_.data();
    z_.avail_out = static_cast<uInt>(out_.size());
    int rc = inflate(&z_, Z_NO_FLUSH);
    const bool progress = z_.avail_in != avail || z_.avail_out != out_.size();
    in_pos_ = in_len_ - z_.avail_in;
    if (!progress && rc != Z_STREAM_END) return Err(name_ + ": corrupt gzip data");
    if (rc == Z_STREAM_END) {
      stream_end_ = true;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Err(name_ + ": corrupt gzip data (" + (z_.msg ? z_.msg : "zlib error") + ")");
    }
    size_t produced = out_.size() - z_.avail_out;
    if (produced > 0) {
      std::span<const uint8_t> out(out_.data(), produced);
      diff_hash_.Update(out);
      return out;
    }
  }
}

Result<void> LayerStream::Drain() {
  for (;;) {
    UVM_TRY(std::span<const uint8_t> chunk, Next());
    if (chunk.empty()) break;
  }
  if (blob_digest_.empty()) {
    blob_digest_ = "sha256:" + blob_hash_.FinishHex();
    diff_id_ = "sha256:" + diff_hash_.FinishHex();
  }
  return {};
}

}  // namespace uvm::store
