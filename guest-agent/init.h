// What the agent does as PID 1 of the utility VM before serving (ARCHITECTURE.md "The agent").
#pragma once

#include "base/result.h"

namespace uvm::agent {

// The kernel starts /init on the initramfs (rootfs), which pivot_root(2) cannot leave. Like
// switch_root, the agent copies itself to a tmpfs, moves that over / and re-executes from it,
// so containers can later pivot_root. Returns only when already switched (or on error).
Result<void> LeaveInitramfs(char** argv);

// Mounts /proc, /sys, /dev (devtmpfs), /dev/pts, /run and /tmp; gives fds 0-2 the console.
Result<void> MountSystem();

}  // namespace uvm::agent
