// SHA-256 (FIPS 180-4), incremental. Image blobs are named and checked by their sha256 digest
// (OCI image spec, "Digests"); a small local implementation keeps the static uvm binary free of a
// crypto library for this one use.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace uvm::store {

class Sha256 {
 public:
  Sha256();
  void Update(std::span<const uint8_t> data);
  void Update(std::string_view data) {
    Update(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }
  // The digest as 64 lowercase hex characters. Ends the computation.
  std::string FinishHex();

 private:
  void Block(const uint8_t* p);

  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

// "sha256:<hex>" of `data`.
std::string Sha256Digest(std::string_view data);

// True for "sha256:" followed by exactly 64 lowercase hex digits: the only algorithm uvm accepts,
// and the form that is safe to use as a file name.
bool IsSha256Digest(std::string_view digest);

}  // namespace uvm::store
