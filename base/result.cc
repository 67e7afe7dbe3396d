#include "base/result.h"

namespace uvm {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kFailed:
      return "failed";
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kExists:
      return "exists";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kInterrupted:
      return "interrupted";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kGuestFailed:
      return "guest failed";
  }
  return "failed";
}

ErrorCode CodeOfErrno(int err) {
  switch (err) {
    case EINVAL:
    case ENAMETOOLONG:
    case ENOTDIR:
    case EISDIR:
    case ELOOP:
    case EBADF:
      return ErrorCode::kInvalidArgument;
    case ENOENT:
    case ENODEV:
    case ENXIO:
    case ESRCH:
    case ECONNREFUSED:
      return ErrorCode::kNotFound;
    case EEXIST:
    case ENOTEMPTY:
    case EADDRINUSE:
      return ErrorCode::kExists;
    case EAGAIN:
    case EBUSY:
    case ENOMEM:
    case ENOSPC:
    case EMFILE:
    case ENFILE:
    case ETIMEDOUT:
      return ErrorCode::kUnavailable;
    case EINTR:
      return ErrorCode::kInterrupted;
    case ENOSYS:
    case EOPNOTSUPP:
    case EPROTONOSUPPORT:
    case EAFNOSUPPORT:
      return ErrorCode::kUnsupported;
    default:
      return ErrorCode::kFailed;
  }
}

}  // namespace uvm
