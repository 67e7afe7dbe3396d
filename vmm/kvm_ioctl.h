// The ioctl helpers every KVM caller in vmm/ uses: one place that retries EINTR and turns a
// failure into an error value naming the request.
#pragma once

#include <sys/ioctl.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/result.h"

namespace uvm::vmm::kvm_ioctl {

// ioctl that retries on EINTR, except where the caller must see it (KVM_RUN calls ::ioctl itself).
inline int Ioctl(int fd, unsigned long request, const void* arg) {
  int r;
  do {
    r = ::ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);
  return r;
}

template <class T>
Result<T> GetStruct(int fd, unsigned long request, const char* what) {
  T value{};
  if (Ioctl(fd, request, &value) < 0) return ErrnoErr(what);
  return value;
}

template <class T>
Result<void> SetStruct(int fd, unsigned long request, const T& value, const char* what) {
  if (Ioctl(fd, request, &value) < 0) return ErrnoErr(what);
  return {};
}

// A flex-array ioctl argument (kvm_msrs, kvm_cpuid2, ...): header and `n` entries in one
// 8-byte-aligned buffer, the entries right after the header.
template <class Header, class Entry>
struct VarBuffer {
  explicit VarBuffer(size_t n)
      : storage(std::make_unique<uint64_t[]>((sizeof(Header) + n * sizeof(Entry) + 7) / 8)) {}
  Header* header() { return reinterpret_cast<Header*>(storage.get()); }
  Entry* entries() {
    return reinterpret_cast<Entry*>(reinterpret_cast<uint8_t*>(storage.get()) + sizeof(Header));
  }
  std::unique_ptr<uint64_t[]> storage;
};

}  // namespace uvm::vmm::kvm_ioctl
