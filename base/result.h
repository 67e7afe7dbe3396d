// Errors as values: every fallible call below main() returns Result<T>. An Error carries one line
// that says what failed, in words a user can act on; callers add context with Context().
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace uvm {

struct Error {
  std::string message;
};

template <class T = void>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> Err(std::string message) {
  return tl::unexpected<Error>(Error{std::move(message)});
}

// "what: strerror(errno)", read at the call, so call it right after the failing syscall.
inline tl::unexpected<Error> ErrnoErr(const std::string& what) {
  return Err(what + ": " + std::strerror(errno));
}

inline tl::unexpected<Error> ErrnoErr(const std::string& what, int err) {
  return Err(what + ": " + std::strerror(err));
}

// Prefixes an error with context: Context(r, "loading kernel") -> "loading kernel: <cause>".
template <class T>
Result<T> Context(Result<T> r, const std::string& what) {
  if (!r) return Err(what + ": " + r.error().message);
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
