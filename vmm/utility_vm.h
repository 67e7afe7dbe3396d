// A utility VM run in the background of the uvm process: `uvm run` starts one, talks to its agent
// over vsock while it runs, and stops it when the container is done. The guest console goes to a
// file (never to the container's stdout); host signals are left to the caller.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/mapped_file.h"
#include "base/result.h"
#include "vmm/linux_vm.h"
#include "vmm/vm_exit.h"

namespace uvm::vmm {

struct UtilityVmSpec {
  std::string kernel;                                   // vmlinux or bzImage
  std::string initrd;                                   // the agent initramfs
  std::string cmdline;                                  // the whole kernel command line
  std::vector<devices::virtio::block::DiskSpec> disks;  // in order (vda, vdb, ...)
  std::vector<devices::virtio::net::NetSpec> nets;      // one virtio-net device each (eth0, ...)
  std::vector<devices::virtio::fs::ShareSpec> shares;   // one virtio-fs device each
  std::string vsock_uds;                                // host side of the vsock device
  std::string api_sock;  // non-empty: the VM's control socket (control_socket.h) listens here
  uint64_t memory_bytes = 0;
  int cpus = 1;
  int console_fd = -1;  // guest console output (a log file); -1: discarded
  // A clone: start from this template's snapshot instead of booting (LinuxVmConfig::restore_dir;
  // kernel, initrd and cmdline are then not read).
  std::string restore_dir;
  // Where SaveAndStop() saves the VM (LinuxVmConfig::save_dir).
  std::string save_dir;
};

class UtilityVm {
 public:
  // Maps the kernel and initrd and starts the VM on its own thread. Errors in setting the VM up
  // (bad kernel, disk, socket path) end the thread at once: see finished() and Wait().
  static Result<std::unique_ptr<UtilityVm>> Start(UtilityVmSpec spec);
  ~UtilityVm();  // stops the VM if it is still running, and waits for it

  UtilityVm(const UtilityVm&) = delete;
  UtilityVm& operator=(const UtilityVm&) = delete;

  // Asks the VM to stop (any thread); the first reason given wins.
  void Stop(const std::string& why);
  // Stops the VM and saves it to spec.save_dir; Wait() then says whether the save worked (an
  // error, or an exit of kind kSave).
  void SaveAndStop();
  // True once the VM thread has returned (the VM ended, or could not be set up).
  bool finished() const { return finished_.load(); }
  // Waits for the VM thread and returns how the VM ended.
  Result<LinuxVmResult> Wait();
  // Binds share `index` (spec.shares, an unbound one) to a directory while the VM runs: a pooled
  // clone is lent with the claimant's directories. Fails if the VM has no such share (yet).
  Result<void> BindShare(size_t index, const devices::virtio::fs::ShareConfig& config);

 private:
  UtilityVm() = default;

  UtilityVmSpec spec_;
  std::optional<MappedFile> kernel_;
  std::optional<MappedFile> initrd_;
  std::atomic<bool> finished_{false};
  ExitLatch latch_;
  std::thread thread_;
  std::optional<Result<LinuxVmResult>> result_;
  std::mutex shares_mu_;
  std::vector<std::shared_ptr<devices::virtio::fs::FsDevice>> shares_;  // once the VM built them
};

}  // namespace uvm::vmm
