// Starting the lab's QEMU: software emulation of a CPU with AMD SVM (`-accel tcg -cpu max`) on the
// lab's L1 kernel, with the host's root shared over virtio-9p and the job's streams on
// virtio-serial ports.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "lab/runner.h"

namespace uvm::lab {

// qemu-system-x86_64 from $PATH, or an error that says which package to install.
Result<std::string> FindQemu();
// The directory of the lab's L1 kernel and initramfs, checked readable.
Result<std::filesystem::path> FindImages(const LabOptions& options);

struct Qemu {
  pid_t pid = -1;
  UniqueFd pidfd;
  UniqueFd stdin_port, ctl_port, console;  // our ends of the chardev sockets
  UniqueFd monitor;                        // QEMU's human monitor, for a stalled L1's state
};

// Starts QEMU on the lab's images with the job directory `job` on L1's command line. QEMU's own
// messages go to job/qemu.log; it gets `original_mask` as its signal mask and dies with us.
Result<Qemu> StartQemu(const std::string& qemu, const std::filesystem::path& images,
                       const std::filesystem::path& job, const LabOptions& options,
                       const sigset_t& original_mask);

}  // namespace uvm::lab
