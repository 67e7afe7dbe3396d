// Errors as values: every fallible call below main() returns Result<T>. An Error carries one line
// that says what failed, in words a user can act on, and a code that says what kind of failure it
// is, so callers decide by the code and never by the text; callers add context with Context(),
// which keeps the code.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace uvm {

enum class ErrorCode {
  kFailed,           // nothing more specific to say
  kInvalidArgument,  // the request itself is wrong (a flag, a path, a message)
  kNotFound,         // what was named does not exist
  kExists,           // what was to be made is already there
  kUnavailable,      // could work later or elsewhere (busy, not ready, no capacity, timed out)
  kInterrupted,      // a signal or a stop request ended the operation
  kUnsupported,      // this host, guest or peer cannot do it (version, feature)
  kGuestFailed,      // the guest or its agent failed (crashed, refused, went away)
};

// "invalid argument", "not found", ...: for logs.
const char* ErrorCodeName(ErrorCode code);

struct Error {
  std::string message;
  ErrorCode code = ErrorCode::kFailed;
};

template <class T = void>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> Err(std::string message) {
  return tl::unexpected<Error>(Error{std::move(message)});
}

inline tl::unexpected<Error> Err(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{std::move(message), code});
}

// The code an errno value stands for.
ErrorCode CodeOfErrno(int err);

// "what: strerror(errno)", read at the call, so call it right after the failing syscall.
inline tl::unexpected<Error> ErrnoErr(const std::string& what) {
  const int err = errno;
  return Err(CodeOfErrno(err), what + ": " + std::strerror(err));
}

inline tl::unexpected<Error> ErrnoErr(const std::string& what, int err) {
  return Err(CodeOfErrno(err), what + ": " + std::strerror(err));
}

// Prefixes an error with context: Context(r, "loading kernel") -> "loading kernel: <cause>". The
// code stays the cause's.
template <class T>
Result<T> Context(Result<T> r, const std::string& what) {
  if (!r) return Err(r.error().code, what + ": " + r.error().message);
  return r;
}

}  // namespace uvm

// Propagates an error out of the enclosing function: UVM_TRY(x, Foo()); declares x.
#define UVM_CONCAT_INNER(a, b) a##b
#define UVM_CONCAT(a, b) UVM_CONCAT_INNER(a, b)
#define UVM_TRY_IMPL(tmp, decl, expr)                           \
  auto tmp = (expr);                                            \
  if (!tmp) return ::tl::unexpected<::uvm::Error>(tmp.error()); \
  decl = std::move(*tmp)
#define UVM_TRY(decl, expr) UVM_TRY_IMPL(UVM_CONCAT(uvm_try_, __LINE__), decl, expr)
// For Result<void>: UVM_CHECK(DoThing());
#define UVM_CHECK(expr)                                                           \
  do {                                                                            \
    auto uvm_check_r = (expr);                                                    \
    if (!uvm_check_r) return ::tl::unexpected<::uvm::Error>(uvm_check_r.error()); \
  } while (0)
