// `uvm boot`'s VM: a Machine with Linux loaded, the legacy devices (8250 console, i8042 reset,
// debug-exit port) on the port bus, the console relayed to host fds, host SIGINT/SIGTERM turned
// into a VM stop. Runs until the guest resets, powers off or crashes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "devices/virtio/block/disk.h"
#include "devices/virtio/fs/share_spec.h"
#include "devices/virtio/net/net_config.h"
#include "vmm/vm_exit.h"

namespace uvm::devices::virtio::fs {
class FsDevice;
}

namespace uvm::vmm {

struct LinuxVmConfig {
  std::span<const uint8_t> kernel;  // owned by the caller for the duration of the call
  int kernel_fd = -1;               // the kernel file, open, if the caller has it (see LinuxImage)
  std::optional<std::span<const uint8_t>> initrd;
  std::string cmdline;
  std::vector<devices::virtio::block::DiskSpec> disks;  // one virtio-blk device each (vda, vdb...)
  std::string vsock_uds;   // non-empty: a virtio-vsock device whose host side listens here
  uint64_t vsock_cid = 3;  // the guest's CID (virtio 1.2, 5.10.4: 3 is the first free one)
  std::vector<devices::virtio::net::NetSpec> nets;     // one virtio-net device each (eth0, eth1...)
  std::vector<devices::virtio::fs::ShareSpec> shares;  // one virtio-fs device each
  // Called once the share devices exist (before the vCPUs run), with them in order: the caller
  // may bind an unbound one later (FsDevice::Bind), from any thread.
  std::function<void(std::vector<std::shared_ptr<devices::virtio::fs::FsDevice>>)> on_shares;
  uint64_t memory_bytes = 0;
  int cpus = 1;
  int console_in = 0;  // -1: no console input
  int console_out = 1;
  // Host SIGINT/SIGTERM/SIGHUP stop the VM (uvm boot). `uvm run` turns them off: it forwards
  // them to the container instead and stops the VM through `latch`.
  bool stop_on_signals = true;
  // Where the VM's exit is decided; a caller that wants to stop the VM from another thread passes
  // its own and calls Report() on it. Null: RunLinuxVm uses a private one.
  ExitLatch* latch = nullptr;
  // Non-empty: start from this snapshot (a template) instead of booting. Its `state` and `memory`
  // replace the kernel, initrd and command line, which are not used; the devices above must have
  // the snapshot's layout (the same disks, vsock, nets and shares in the same order; `memory_bytes`
  // and `cpus` as saved). Every disk is announced to the guest as if resized (virtio 1.x 5.2.4: a
  // clone's disk is not the template's placeholder) and the vsock transport is reset (5.10.6.6),
  // so no connection of the template lingers.
  std::string restore_dir;
  // Non-empty: when the VM is stopped with ExitKind::kSave, it is saved here (snapshot.h) before
  // it is torn down. The vCPUs are out of KVM_RUN and the devices quiesced first.
  std::string save_dir;
  // Non-empty: a control socket (control_socket.h) listens here; `SAVE <dir>` stops the VM with
  // ExitKind::kSave and saves it to <dir> (which wins over `save_dir`), then answers the client.
  std::string api_sock;
};

struct LinuxVmResult {
  VmExit exit;
  bool panicked = false;  // the console showed the kernel's panic banner
  std::string saved_to;   // ExitKind::kSave: the directory the VM was saved to
};

struct BuiltLinuxVm;

// A Linux VM built and ready to run: the machine (booted from a kernel or restored from a
// snapshot, devices in their saved state), its devices and buses, the console, the control
// socket. Building does everything that can fail before a vCPU runs.
class LinuxVm {
 public:
  // Copies `config`; the kernel and initrd spans must stay valid until Run() returns.
  static Result<std::unique_ptr<LinuxVm>> Build(const LinuxVmConfig& config);
  ~LinuxVm();

  LinuxVm(const LinuxVm&) = delete;
  LinuxVm& operator=(const LinuxVm&) = delete;

  // Runs the vCPUs until the VM ends. A VM stopped for a save is saved (to the control socket's
  // directory or config.save_dir). What the guest gave the vsock device before it stopped is
  // written out to the host readers (bounded). Call once.
  Result<LinuxVmResult> Run();

 private:
  explicit LinuxVm(std::unique_ptr<BuiltLinuxVm> parts);
  std::unique_ptr<BuiltLinuxVm> parts_;
};

// Build, then Run: a whole VM's life.
Result<LinuxVmResult> RunLinuxVm(const LinuxVmConfig& config);

}  // namespace uvm::vmm
