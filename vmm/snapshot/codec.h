// Little-endian byte encoding for the snapshot state file. ByteReader is the only way state bytes
// are read: every read is bounds-checked and a short input is an error, never an out-of-range
// access.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "base/result.h"

namespace uvm::vmm::snapshot {

static_assert(std::endian::native == std::endian::little, "the state file is little-endian");

class ByteWriter {
 public:
  void U8(uint8_t v) { bytes_.push_back(v); }
  void U16(uint16_t v) { Raw(&v, sizeof v); }
  void U32(uint32_t v) { Raw(&v, sizeof v); }
  void U64(uint64_t v) { Raw(&v, sizeof v); }
  void Bytes(std::span<const uint8_t> b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
  // A kernel ABI struct as a u32 length followed by its bytes: the length lets the reader refuse a
  // block written with a different layout instead of misreading it.
  template <class T>
  void Block(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    U32(static_cast<uint32_t>(sizeof(T)));
    Raw(&v, sizeof(T));
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::vector<uint8_t> Take() { return std::move(bytes_); }

 private:
  void Raw(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  std::vector<uint8_t> bytes_;
};

class ByteReader {
 public:
  // `what` names the thing being read, for errors ("vCPU 0: truncated").
  ByteReader(std::span<const uint8_t> bytes, std::string what)
      : bytes_(bytes), what_(std::move(what)) {}

  Result<uint8_t> U8() { return Scalar<uint8_t>(); }
  Result<uint16_t> U16() { return Scalar<uint16_t>(); }
  // A flag written as one byte: anything but 0 or 1 is refused, so each state has one encoding.
  Result<bool> Bool(const char* name) {
    UVM_TRY(uint8_t v, U8());
    if (v > 1) return Err(what_ + ": " + name + " is " + std::to_string(v) + ", not 0 or 1");
    return v == 1;
  }
  Result<uint32_t> U32() { return Scalar<uint32_t>(); }
  Result<uint64_t> U64() { return Scalar<uint64_t>(); }
  Result<std::span<const uint8_t>> Bytes(size_t n) {
    if (n > remaining()) return Truncated();
    auto s = bytes_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  template <class T>
  Result<T> Block(const char* name) {
    static_assert(std::is_trivially_copyable_v<T>);
    UVM_TRY(uint32_t len, U32());
    if (len != sizeof(T)) {
      return Err(what_ + ": " + name + " block is " + std::to_string(len) + " bytes, expected " +
                 std::to_string(sizeof(T)));
    }
    UVM_TRY(auto b, Bytes(sizeof(T)));
    T v;
    std::memcpy(&v, b.data(), sizeof(T));
    return v;
  }
  size_t remaining() const { return bytes_.size() - pos_; }
  // Trailing bytes mean the writer and reader disagree on the layout: refused, not ignored.
  Result<void> ExpectEnd() const {
    if (remaining() != 0) {
      return Err(what_ + ": " + std::to_string(remaining()) + " unexpected trailing bytes");
    }
    return {};
  }
  const std::string& what() const { return what_; }

 private:
  template <class T>
  Result<T> Scalar() {
    UVM_TRY(auto b, Bytes(sizeof(T)));
    T v;
    std::memcpy(&v, b.data(), sizeof(T));
    return v;
  }
  tl::unexpected<Error> Truncated() const { return Err(what_ + ": truncated"); }

  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  std::string what_;
};

}  // namespace uvm::vmm::snapshot
