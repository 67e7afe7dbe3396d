// A layer file as a stream of uncompressed tar bytes (image-spec layer.md: media types tar and
// tar+gzip). gzip is inflated here with zlib rather than by libarchive so that both digests the
// spec defines come from one read: the blob digest of the bytes as stored and the diff_id of the
// uncompressed tar.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/sha256.h"
#include "base/unique_fd.h"

namespace uvm::store {

class LayerStream {
 public:
  // Takes ownership of `fd`; `name` is used in messages.
  static Result<std::unique_ptr<LayerStream>> Open(UniqueFd fd, std::string name);
  static Result<std::unique_ptr<LayerStream>> OpenFile(const std::string& path);
  ~LayerStream();

  // The next uncompressed bytes, valid until the next call; empty at the end.
  Result<std::span<const uint8_t>> Next();
  // Reads to the end (a tar reader stops at the end-of-archive blocks) so the digests cover
  // every byte, then returns them.
  Result<void> Drain();
  std::string blob_digest() const { return blob_digest_; }
  std::string diff_id() const { return diff_id_; }
  uint64_t blob_size() const { return blob_size_; }
  const std::string& name() const { return name_; }

 private:
  LayerStream(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
  Result<size_t> Fill();  // more stored bytes into in_; 0 at end of file

  UniqueFd fd_;
  std::string name_;
  bool gzip_ = false;
  bool zinit_ = false;
  bool stream_end_ = false;  // the current gzip member ended
  bool eof_ = false;
  z_stream z_{};
  std::vector<uint8_t> in_ = std::vector<uint8_t>(1 << 16);
  size_t in_len_ = 0, in_pos_ = 0;
  std::vector<uint8_t> out_ = std::vector<uint8_t>(1 << 16);
  Sha256 blob_hash_, diff_hash_;
  uint64_t blob_size_ = 0;
  std::string blob_digest_, diff_id_;
};

}  // namespace uvm::store
