// The ioctl helpers every KVM caller in vmm/ uses: one place that retries EINTR and turns a
// failure into an error value naming the request.
#pragma once

#include <sys/ioctl.h>

#include <cerrno>

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

}  // namespace uvm::vmm::kvm_ioctl
