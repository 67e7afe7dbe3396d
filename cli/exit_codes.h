#pragma once

namespace uvm::cli {
// Like docker: 125 when uvm itself fails, 126/127 when the command cannot be run / is not found.
inline constexpr int kExitUvmError = 125;
inline constexpr int kExitCannotExecute = 126;
inline constexpr int kExitNotFound = 127;
// `uvm boot` when the guest crashed (panic, triple fault): distinct from uvm's own errors.
inline constexpr int kExitGuestCrashed = 1;
}  // namespace uvm::cli
