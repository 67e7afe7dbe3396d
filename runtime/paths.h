// Where uvm keeps things, and the parts every utility VM shares. One definition each, so that the
// front ends (`uvm`, the benchmarks) and the runtime agree on them.
#pragma once

#include <string>

#include "base/result.h"

namespace uvm::runtime {

// The state root (`--root`): images, templates.
inline constexpr char kDefaultStateRoot[] = "/var/lib/uvm";

// Runtime state that goes at reboot (tmpfs): each VM's vsock socket and console log, the pool's
// socket and log, the host check's verdict.
inline constexpr char kRunDir[] = "/run/uvm";

// Creates kRunDir (0755) if it is missing.
Result<void> EnsureRunDir();

// The built-in images (kernel, agent initramfs, busybox rootfs, the lab): build/images next to
// the uvm binary, or where `make install` put them (base's ImagesDirOf).
std::string BuiltinImagesDir();
// The built-in guest kernel and agent initramfs every utility VM runs.
std::string BuiltinKernel();
std::string BuiltinAgentInitramfs();

// Always on a guest's command line (`uvm boot --cmdline` is appended: later parameters win in
// Linux). reboot=k: reboot through the i8042 reset line uvm emulates; panic=1: a panicked guest
// resets after 1 s so uvm can end (it reports the panic it saw on the console).
inline constexpr char kBaseCmdline[] = "console=ttyS0 reboot=k panic=1 io_delay=none";

// The kernel command line of every utility VM, cold or template (a clone never reads it, but its
// template booted with it).
std::string UtilityVmCmdline();

}  // namespace uvm::runtime
