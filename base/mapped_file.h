// A regular file mapped read-only: the kernel and initrd are copied into guest RAM straight from
// the page cache, without first reading them into a buffer (and only the parts that are used).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace uvm {

class MappedFile {
 public:
  // A directory, device or empty file is an error, not an endless or empty read.
  static Result<MappedFile> Open(const std::string& path);
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  // The open file, for mapping parts of it elsewhere (GuestMemory::MapFile).
  int fd() const { return fd_.get(); }

 private:
  MappedFile(UniqueFd fd, const uint8_t* data, size_t size)
      : fd_(std::move(fd)), data_(data), size_(size) {}
  UniqueFd fd_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace uvm
