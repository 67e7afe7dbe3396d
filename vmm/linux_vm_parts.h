// The parts of a built Linux VM (vmm/linux_vm.h), shared by its building (linux_vm_build.cc) and
// its running (linux_vm.cc). Members are destroyed in reverse: the control socket and timers
// first, then the console and buses, the devices, the event loop, and the machine last.
#pragma once

#include <signal.h>

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "base/event_loop.h"
#include "base/phase_timer.h"
#include "base/unique_fd.h"
#include "devices/bus.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/serial.h"
#include "devices/virtio/block/block_device.h"
#include "devices/virtio/fs/fs_device.h"
#include "devices/virtio/net/net_device.h"
#include "devices/virtio/vsock/vsock_device.h"
#include "vmm/console.h"
#include "vmm/control_socket.h"
#include "vmm/linux_vm.h"
#include "vmm/machine.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/vcpu_gate.h"
#include "vmm/virtio_slots.h"

namespace uvm::vmm {

struct BuiltLinuxVm {
  explicit BuiltLinuxVm(const LinuxVmConfig& c) : config(c) {}
  ~BuiltLinuxVm();  // puts back the signal mask it changed

  LinuxVmConfig config;
  PhaseTimer timer{"vm: "};
  std::unique_ptr<Machine> machine;
  snapshot::DeviceStates saved_devices;  // a restore's: put into the devices once they exist
  std::optional<EventLoop> loop;
  std::vector<std::unique_ptr<VirtioSlot>> slots;
  std::vector<std::shared_ptr<devices::virtio::block::BlockDevice>> disks;
  std::shared_ptr<devices::virtio::vsock::VsockDevice> vsock;
  std::vector<std::shared_ptr<devices::virtio::net::NetDevice>> nets;
  std::vector<std::shared_ptr<devices::virtio::fs::FsDevice>> shares;
  ExitLatch own_latch;
  ExitLatch* latch = &own_latch;  // config.latch when the caller gave one
  PanicWatcher panic;
  std::mutex panic_mu;
  std::shared_ptr<devices::Serial> serial;
  std::shared_ptr<devices::I8042> i8042;
  std::shared_ptr<devices::DebugExit> debug_exit;
  std::optional<devices::Bus> pio_bus;
  std::optional<devices::Bus> mmio_bus;
  std::optional<ConsoleInput> console;
  bool signals_blocked = false;  // config.stop_on_signals: SIGINT/SIGTERM/SIGHUP read from sigfd
  sigset_t old_mask{};
  UniqueFd sigfd;
  UniqueFd size_timer;  // polls the disks' sizes
  VcpuGate gate;        // PAUSE and RESUME on the control socket
  std::unique_ptr<ControlSocket> control;
};

// Everything up to the point where the vCPUs can start.
Result<std::unique_ptr<BuiltLinuxVm>> BuildLinuxVm(const LinuxVmConfig& config);

}  // namespace uvm::vmm
