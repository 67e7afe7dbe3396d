#include "vmm/linux_vm.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <optional>

#include "base/event_loop.h"
#include "base/log.h"
#include "base/phase_timer.h"
#include "boot/layout.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/serial.h"
#include "devices/virtio/block/block_device.h"
#include "devices/virtio/block/disk.h"
#include "devices/virtio/net/net_config.h"
#include "devices/virtio/net/net_device.h"
#include "devices/virtio/net/tap_backend.h"
#include "devices/virtio/vsock/vsock_device.h"
#include "vmm/console.h"
#include "vmm/control_socket.h"
#include "vmm/linux_boot.h"
#include "vmm/runner.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/virtio_slots.h"

namespace uvm::vmm {
namespace {

// Writes all of `bytes`, retrying short writes: console output is never dropped. A closed reader
// (EPIPE) is the one case where the bytes have nowhere to go.
void WriteAll(int fd, std::span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return;
    }
    done += static_cast<size_t>(n);
  }
}

// The machine of a snapshot: an empty VM of the saved shape with the saved memory and CPU state.
// The shape must be what the caller asked for: a template made for other memory or vCPUs is
// refused rather than run with a size nobody asked for.
Result<std::unique_ptr<Machine>> RestoreMachine(const LinuxVmConfig& config,
                                                snapshot::DeviceStates& devices) {
  const std::string& dir = config.restore_dir;
  UVM_TRY(snapshot::MachineLayout layout, snapshot::ReadSnapshotLayout(dir));
  const std::vector<RegionSpec> want = boot::RamRegions(config.memory_bytes);
  bool same = layout.regions.size() == want.size() && layout.vcpus == uint32_t(config.cpus);
  for (size_t i = 0; same && i < want.size(); ++i) {
    same = layout.regions[i].gpa == want[i].gpa && layout.regions[i].size == want[i].size;
  }
  if (!same) {
    return Err(dir + ": the snapshot was saved with " + std::to_string(layout.total_bytes() >> 20) +
               " MiB and " + std::to_string(layout.vcpus) + " vCPUs, not " +
               std::to_string(config.memory_bytes >> 20) + " MiB and " +
               std::to_string(config.cpus));
  }
  UVM_TRY(snapshot::EmptyVm empty, snapshot::CreateEmptyVm(config.cpus, layout.regions));
  return snapshot::RestoreSnapshot(dir, std::move(empty), &devices);
}

// Saves a stopped VM with its devices. The vCPUs are joined; the device loop is not running, so
// the devices are touched from this thread only.
Result<void> SaveLinuxVm(Machine& machine, const devices::Serial& serial,
                         const std::vector<std::unique_ptr<VirtioSlot>>& slots,
                         const std::string& dir) {
  // No device may hold a guest chain outside the used ring: block requests finish, held receive
  // buffers go back to the avail ring. Before the machine is captured: finishing a request may
  // raise an interrupt the irqchip must hold.
  for (const auto& slot : slots) UVM_CHECK(slot->transport->Quiesce());
  snapshot::DeviceStates devices;
  devices.serial = serial.SaveState();
  for (size_t i = 0; i < slots.size(); ++i) {
    devices.virtio.push_back({static_cast<uint32_t>(i), slots[i]->transport->SaveState()});
  }
  return Context(snapshot::SaveSnapshot(machine, dir, devices), "saving the VM to " + dir);
}

}  // namespace

Result<LinuxVmResult> RunLinuxVm(const LinuxVmConfig& config) {
  PhaseTimer timer("vm: ");
  const bool restoring = !config.restore_dir.empty();
  std::unique_ptr<Machine> machine;
  snapshot::DeviceStates saved_devices;
  if (restoring) {
    UVM_TRY(machine, RestoreMachine(config, saved_devices));
    timer.Mark("machine restored from " + config.restore_dir);
  } else {
    MachineSpec spec;
    spec.ram = boot::RamRegions(config.memory_bytes);
    spec.cpus = config.cpus;
    UVM_TRY(machine, CreateMachine(spec));
    timer.Mark("machine created");
  }
  UVM_TRY(EventLoop loop, EventLoop::Create());

  // virtio devices first: each adds its virtio_mmio.device= parameter to the command line.
  devices::Bus::Builder mmio;
  std::string cmdline = config.cmdline;
  std::vector<std::unique_ptr<VirtioSlot>> slots;
  std::vector<std::shared_ptr<devices::virtio::block::BlockDevice>> disks;
  for (const std::string& spec_text : config.disks) {
    const std::string what = "--disk";  // the errors below name the path themselves
    UVM_TRY(auto disk_spec, Context(devices::virtio::block::ParseDiskSpec(spec_text), what));
    UVM_TRY(auto disk, Context(devices::virtio::block::Disk::Open(disk_spec), what));
    UVM_TRY(auto device, Context(devices::virtio::block::BlockDevice::Create(
                                     std::move(disk), devices::virtio::block::EngineKind::kAio),
                                 what));
    UVM_TRY(auto slot,
            Context(AttachVirtioDevice(*machine, mmio, loop, slots.size(), device), what));
    // I/O completions arrive on the engine's eventfd and are finished on the device loop.
    UVM_CHECK(loop.Add(device->io_event_fd(), EPOLLIN,
                       [dev = device.get()](uint32_t) { dev->ProcessIoCompletions(); }));
    cmdline += " " + slot->cmdline;
    slots.push_back(std::move(slot));
    disks.push_back(std::move(device));
  }

  std::shared_ptr<devices::virtio::vsock::VsockDevice> vsock;
  if (!config.vsock_uds.empty()) {
    UVM_TRY(vsock, Context(devices::virtio::vsock::VsockDevice::Create(config.vsock_cid,
                                                                       config.vsock_uds, loop),
                           "--vsock"));
    UVM_TRY(auto slot,
            Context(AttachVirtioDevice(*machine, mmio, loop, slots.size(), vsock), "--vsock"));
    cmdline += " " + slot->cmdline;
    slots.push_back(std::move(slot));
  }

  std::vector<std::shared_ptr<devices::virtio::net::NetDevice>> nets;
  for (const std::string& spec_text : config.nets) {
    namespace net = devices::virtio::net;
    const std::string what = "--net " + spec_text;
    UVM_TRY(auto net_spec, Context(net::ParseNetSpec(spec_text), "--net"));
    UVM_TRY(auto tap, Context(net::TapBackend::Open(net_spec.tap), "--net"));
    UVM_TRY(auto device, Context(net::NetDevice::Create(std::move(tap), net_spec.mac, loop), what));
    UVM_TRY(auto slot,
            Context(AttachVirtioDevice(*machine, mmio, loop, slots.size(), device), what));
    Log(LogLevel::kInfo,
        "virtio-net on tap " + net_spec.tap + ", MAC " + net::FormatMac(net_spec.mac));
    cmdline += " " + slot->cmdline;
    slots.push_back(std::move(slot));
    nets.push_back(std::move(device));
  }

  if (!restoring) {
    LinuxImage image{config.kernel, config.kernel_fd, config.initrd, cmdline};
    UVM_CHECK(LoadLinux(*machine, image));
    timer.Mark("kernel loaded");
  }

  ExitLatch own_latch;
  ExitLatch& latch = config.latch ? *config.latch : own_latch;
  PanicWatcher panic;
  std::mutex panic_mu;
  auto serial = std::make_shared<devices::Serial>(
      [&](std::span<const uint8_t> bytes) {
        {
          std::lock_guard lock(panic_mu);
          panic.Feed(bytes);
        }
        WriteAll(config.console_out, bytes);
      },
      // Raised per byte from the vCPU thread: pulsed at once, as virtio's lines are (an irqfd
      // would hand each edge to a kernel worker).
      [&vm = machine->vm] { (void)vm.PulseIrqLine(devices::Serial::kCom1Irq); });
  auto i8042 = std::make_shared<devices::I8042>([&] {
    latch.Report({ExitKind::kReset, 0, "the guest reset the machine (i8042)"});
  });
  auto debug_exit = std::make_shared<devices::DebugExit>([&](uint8_t status) {
    latch.Report({ExitKind::kPowerOff, status, "the guest powered off (debug-exit port)"});
  });
  devices::Bus::Builder pio;
  UVM_CHECK(pio.Add(devices::Serial::kCom1Port, devices::Serial::kPortCount, serial, "serial"));
  UVM_CHECK(pio.Add(devices::I8042::kDataPort, 5, i8042, "i8042"));
  UVM_CHECK(pio.Add(devices::DebugExit::kPort, 1, debug_exit, "debug-exit"));
  devices::Bus pio_bus = std::move(pio).Build();
  devices::Bus mmio_bus = std::move(mmio).Build();
  std::optional<ConsoleInput> console;
  if (config.console_in >= 0) {
    console.emplace(config.console_in, *serial, [&] {
      latch.Report({ExitKind::kHostSignal, SIGINT, "stopped from the console (Ctrl-A x)"});
    });
    UVM_CHECK(console->Start(loop));
  }

  // SIGINT/SIGTERM end the VM in an orderly way (terminal restored, threads joined).
  sigset_t signals;
  sigset_t old_mask;
  UniqueFd sigfd;
  if (config.stop_on_signals) {
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, &old_mask);
    sigfd.Reset(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sigfd.valid()) return ErrnoErr("signalfd");
    UVM_CHECK(loop.Add(sigfd.get(), EPOLLIN, [&](uint32_t) {
      signalfd_siginfo info{};
      if (::read(sigfd.get(), &info, sizeof info) == sizeof info) {
        latch.Report({ExitKind::kHostSignal, static_cast<int>(info.ssi_signo),
                      "stopped by signal " + std::to_string(info.ssi_signo)});
      }
    }));
  }

  // 5.2.4: a disk whose image grew or shrank on the host is announced to the guest with a
  // configuration-change interrupt. The size is polled once a second: cheap (one fstat per disk)
  // and independent of how the file was resized.
  UniqueFd size_timer;
  if (!disks.empty()) {
    size_timer.Reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!size_timer.valid()) return ErrnoErr("timerfd_create");
    const itimerspec every_second{{1, 0}, {1, 0}};
    ::timerfd_settime(size_timer.get(), 0, &every_second, nullptr);
    UVM_CHECK(loop.Add(size_timer.get(), EPOLLIN, [&](uint32_t) {
      uint64_t expirations;
      if (::read(size_timer.get(), &expirations, sizeof expirations) != sizeof expirations) return;
      for (auto& disk : disks) disk->Resize();
    }));
  }

  // After the latch: a SAVE request stops the VM through it. Before the restore below, so a
  // socket path that cannot be bound fails before the guest runs.
  std::unique_ptr<ControlSocket> control;
  if (!config.api_sock.empty()) {
    UVM_TRY(control, ControlSocket::Create(config.api_sock, loop, [&latch] {
              return latch.Report({ExitKind::kSave, 0, "save requested on the control socket"});
            }));
  }

  if (restoring) {
    std::vector<devices::virtio::MmioTransport*> transports;
    for (const auto& slot : slots) transports.push_back(slot->transport.get());
    UVM_CHECK(Context(snapshot::RestoreDevices(saved_devices.serial, saved_devices.virtio,
                                               serial.get(), transports),
                      config.restore_dir));
    // The guest still sees the snapshot's disks (a template's placeholder): 5.2.4, the capacity
    // is re-read after a configuration-change interrupt.
    for (auto& disk : disks) UVM_CHECK(disk->AnnounceCapacity());
    // The snapshot's connections have no host side here: 5.10.6.6, the driver drops them all.
    if (vsock) vsock->SendTransportReset();
    // A kick the guest sent before the save is not in the snapshot (an eventfd's count is not
    // state): serve whatever the rings already hold. The loop is not running yet, so this thread
    // may touch the devices.
    for (const auto& slot : slots) slot->transport->NotifyAllQueues();
    timer.Mark("devices restored");
  }

  timer.Mark("devices ready, starting vCPUs");
  LinuxVmResult result;
  // The tick lets console input blocked on a full UART FIFO make progress.
  result.exit = RunMachine(*machine, {pio_bus, mmio_bus}, latch, loop, [&] {
    if (console) console->OnTick();
  });
  timer.Mark(std::string("VM ended: ") + ExitKindName(result.exit.kind));
  if (result.exit.kind == ExitKind::kSave) {
    // The directory comes with the request that stopped the VM, if it came on the socket.
    std::optional<std::string> asked = control ? control->pending_save_dir() : std::nullopt;
    const std::string dir = asked ? *asked : config.save_dir;
    if (dir.empty()) return Err("asked to save the VM, but no directory was given");
    Result<void> saved = SaveLinuxVm(*machine, *serial, slots, dir);
    if (control) control->FinishSave(saved);
    UVM_CHECK(saved);
    result.saved_to = dir;
    timer.Mark("saved to " + dir);
  }
  // What the guest handed to the vsock device before it stopped still reaches the host readers
  // (a guest may write and power off at once); bounded, so a reader that went away cannot hold
  // uvm up.
  if (vsock) vsock->DrainToHost(std::chrono::seconds(1), std::chrono::seconds(10));
  if (config.stop_on_signals) pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  std::lock_guard lock(panic_mu);
  result.panicked = panic.panicked();
  return result;
}

}  // namespace uvm::vmm
