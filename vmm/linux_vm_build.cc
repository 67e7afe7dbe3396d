// Building a Linux VM (vmm/linux_vm.h): the machine (created and loaded with the kernel, or
// restored from a snapshot), the virtio devices on the MMIO bus and the legacy ones on the port
// bus, the console, host signals, the disk-size poll and the control socket; for a restore, the
// devices' saved state and a kick of every queue. Nothing runs yet.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "base/log.h"
#include "boot/layout.h"
#include "devices/virtio/block/disk.h"
#include "devices/virtio/net/net_config.h"
#include "devices/virtio/net/tap_backend.h"
#include "vmm/linux_boot.h"
#include "vmm/linux_vm_parts.h"

namespace uvm::vmm {
namespace {

namespace block = devices::virtio::block;
namespace net = devices::virtio::net;
namespace fs = devices::virtio::fs;

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
    return Err(ErrorCode::kInvalidArgument,
               dir + ": the snapshot was saved with " + std::to_string(layout.total_bytes() >> 20) +
                   " MiB and " + std::to_string(layout.vcpus) + " vCPUs, not " +
                   std::to_string(config.memory_bytes >> 20) + " MiB and " +
                   std::to_string(config.cpus));
  }
  UVM_TRY(snapshot::EmptyVm empty, snapshot::CreateEmptyVm(config.cpus, layout.regions));
  return snapshot::RestoreSnapshot(dir, std::move(empty), &devices);
}

// Host descriptors for the shares: each share's nodes and open files are descriptors
// (fuse_session.h), so the soft limit goes up to the hard one and each share's caps fit what that
// allows, with room left for everything else the VMM opens.
Result<void> FitSharesToFdLimit(std::vector<fs::ShareSpec>& shares) {
  if (shares.empty()) return {};
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) < 0) return ErrnoErr("getrlimit(RLIMIT_NOFILE)");
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) < 0) return ErrnoErr("setrlimit(RLIMIT_NOFILE)");
  }
  constexpr rlim_t kReserved = 512;
  const rlim_t per_share =
      lim.rlim_cur > kReserved ? (lim.rlim_cur - kReserved) / shares.size() : 0;
  if (per_share < 64) {
    return Err(ErrorCode::kUnavailable,
               "--share: the open-file limit (" + std::to_string(lim.rlim_cur) +
                   ") leaves too few descriptors for " + std::to_string(shares.size()) +
                   " share(s); raise it with ulimit -n");
  }
  for (fs::ShareSpec& share : shares) {
    share.config.max_open = std::min<size_t>(share.config.max_open, per_share * 4 / 5);
    share.config.max_handles = std::min<size_t>(share.config.max_handles, per_share / 5);
  }
  return {};
}

// The virtio devices, in slot order: disks, vsock, nets, shares (a snapshot's layout depends on
// it). Each adds its virtio_mmio.device= parameter to `cmdline`.
Result<void> AttachVirtioDevices(BuiltLinuxVm& vm, devices::Bus::Builder& mmio,
                                 std::string& cmdline) {
  Machine& machine = *vm.machine;
  EventLoop& loop = *vm.loop;
  auto attach = [&](std::shared_ptr<devices::virtio::VirtioDevice> device,
                    const std::string& what) -> Result<void> {
    UVM_TRY(auto slot,
            Context(AttachVirtioDevice(machine, mmio, loop, vm.slots.size(), device), what));
    cmdline += " " + slot->cmdline;
    vm.slots.push_back(std::move(slot));
    return {};
  };
  for (const block::DiskSpec& spec : vm.config.disks) {
    const std::string what = "--disk";  // the errors below name the path themselves
    UVM_TRY(auto disk, Context(block::Disk::Open(spec), what));
    UVM_TRY(auto device,
            Context(block::BlockDevice::Create(std::move(disk), block::EngineKind::kAio), what));
    UVM_CHECK(attach(device, what));
    // I/O completions arrive on the engine's eventfd and are finished on the device loop.
    UVM_CHECK(loop.Add(device->io_event_fd(), EPOLLIN,
                       [dev = device.get()](uint32_t) { dev->ProcessIoCompletions(); }));
    vm.disks.push_back(std::move(device));
  }
  if (!vm.config.vsock_uds.empty()) {
    UVM_TRY(vm.vsock, Context(devices::virtio::vsock::VsockDevice::Create(
                                  vm.config.vsock_cid, vm.config.vsock_uds, loop),
                              "--vsock"));
    UVM_CHECK(attach(vm.vsock, "--vsock"));
  }
  for (const net::NetSpec& spec : vm.config.nets) {
    const std::string what = "--net " + spec.tap;
    UVM_TRY(auto tap, Context(net::TapBackend::Open(spec.tap), "--net"));
    UVM_TRY(auto device, Context(net::NetDevice::Create(std::move(tap), spec.mac, loop), what));
    UVM_CHECK(attach(device, what));
    Log(LogLevel::kInfo, "virtio-net on tap " + spec.tap + ", MAC " + net::FormatMac(spec.mac));
    vm.nets.push_back(std::move(device));
  }
  UVM_CHECK(FitSharesToFdLimit(vm.config.shares));
  for (const fs::ShareSpec& spec : vm.config.shares) {
    UVM_TRY(auto device, Context(fs::FsDevice::Create(spec), "--share " + spec.config.host_dir));
    UVM_CHECK(attach(device, "--share " + spec.config.host_dir));
    Log(LogLevel::kInfo,
        "virtio-fs '" + spec.tag + "' " +
            (spec.config.host_dir.empty() ? "unbound" : "on " + spec.config.host_dir) +
            (spec.config.read_only ? " (read-only)" : ""));
    vm.shares.push_back(std::move(device));
  }
  if (vm.config.on_shares && !vm.shares.empty()) vm.config.on_shares(vm.shares);
  return {};
}

// The 8250 console, the i8042 (its reset line ends the VM) and the debug-exit port.
Result<void> AttachLegacyDevices(BuiltLinuxVm& vm, devices::Bus::Builder& pio) {
  BuiltLinuxVm* self = &vm;
  vm.serial = std::make_shared<devices::Serial>(
      [self](std::span<const uint8_t> bytes) {
        {
          std::lock_guard lock(self->panic_mu);
          self->panic.Feed(bytes);
        }
        WriteAll(self->config.console_out, bytes);
      },
      // Raised per byte from the vCPU thread: pulsed at once, as virtio's lines are (an irqfd
      // would hand each edge to a kernel worker).
      [self] { (void)self->machine->vm.PulseIrqLine(devices::Serial::kCom1Irq); });
  vm.i8042 = std::make_shared<devices::I8042>([self] {
    self->latch->Report({ExitKind::kReset, 0, "the guest reset the machine (i8042)"});
  });
  vm.debug_exit = std::make_shared<devices::DebugExit>([self](uint8_t status) {
    self->latch->Report({ExitKind::kPowerOff, status, "the guest powered off (debug-exit port)"});
  });
  UVM_CHECK(pio.Add(devices::Serial::kCom1Port, devices::Serial::kPortCount, vm.serial, "serial"));
  UVM_CHECK(pio.Add(devices::I8042::kDataPort, 5, vm.i8042, "i8042"));
  UVM_CHECK(pio.Add(devices::DebugExit::kPort, 1, vm.debug_exit, "debug-exit"));
  return {};
}

// SIGINT/SIGTERM/SIGHUP end the VM in an orderly way (terminal restored, threads joined).
Result<void> StopOnSignals(BuiltLinuxVm& vm) {
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, &vm.old_mask);
  vm.signals_blocked = true;
  vm.sigfd.Reset(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!vm.sigfd.valid()) return ErrnoErr("signalfd");
  BuiltLinuxVm* self = &vm;
  return vm.loop->Add(vm.sigfd.get(), EPOLLIN, [self](uint32_t) {
    signalfd_siginfo info{};
    if (::read(self->sigfd.get(), &info, sizeof info) == sizeof info) {
      self->latch->Report({ExitKind::kHostSignal, static_cast<int>(info.ssi_signo),
                           "stopped by signal " + std::to_string(info.ssi_signo)});
    }
  });
}

// 5.2.4: a disk whose image grew or shrank on the host is announced to the guest with a
// configuration-change interrupt. The size is polled once a second: cheap (one fstat per disk)
// and independent of how the file was resized.
Result<void> PollDiskSizes(BuiltLinuxVm& vm) {
  vm.size_timer.Reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!vm.size_timer.valid()) return ErrnoErr("timerfd_create");
  const itimerspec every_second{{1, 0}, {1, 0}};
  ::timerfd_settime(vm.size_timer.get(), 0, &every_second, nullptr);
  BuiltLinuxVm* self = &vm;
  return vm.loop->Add(vm.size_timer.get(), EPOLLIN, [self](uint32_t) {
    uint64_t expirations;
    if (::read(self->size_timer.get(), &expirations, sizeof expirations) != sizeof expirations) {
      return;
    }
    for (auto& disk : self->disks) disk->Resize();
  });
}

// A restored VM's devices take their saved state; the guest hears that its disks may have changed
// and its vsock connections are gone, and the rings are served.
Result<void> RestoreDeviceState(BuiltLinuxVm& vm) {
  std::vector<devices::virtio::MmioTransport*> transports;
  for (const auto& slot : vm.slots) transports.push_back(slot->transport.get());
  UVM_CHECK(Context(snapshot::RestoreDevices(vm.saved_devices.serial, vm.saved_devices.virtio,
                                             vm.serial.get(), transports),
                    vm.config.restore_dir));
  // The guest still sees the snapshot's disks (a template's placeholder): 5.2.4, the capacity is
  // re-read after a configuration-change interrupt.
  for (auto& disk : vm.disks) UVM_CHECK(disk->AnnounceCapacity());
  // The snapshot's connections have no host side here: 5.10.6.6, the driver drops them all.
  if (vm.vsock) vm.vsock->SendTransportReset();
  // A kick the guest sent before the save is not in the snapshot (an eventfd's count is not
  // state): serve whatever the rings already hold. The loop is not running yet, so this thread
  // may touch the devices.
  for (const auto& slot : vm.slots) slot->transport->NotifyAllQueues();
  return {};
}

}  // namespace

BuiltLinuxVm::~BuiltLinuxVm() {
  if (signals_blocked) pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

Result<std::unique_ptr<BuiltLinuxVm>> BuildLinuxVm(const LinuxVmConfig& config) {
  auto vm = std::make_unique<BuiltLinuxVm>(config);
  if (config.latch) vm->latch = config.latch;
  const bool restoring = !config.restore_dir.empty();
  if (restoring) {
    UVM_TRY(vm->machine, RestoreMachine(config, vm->saved_devices));
    vm->timer.Mark("machine restored from " + config.restore_dir);
  } else {
    MachineSpec spec;
    spec.ram = boot::RamRegions(config.memory_bytes);
    spec.cpus = config.cpus;
    UVM_TRY(vm->machine, CreateMachine(spec));
    vm->timer.Mark("machine created");
  }
  UVM_TRY(vm->loop, EventLoop::Create());

  // virtio devices first: each adds its virtio_mmio.device= parameter to the command line.
  devices::Bus::Builder mmio;
  std::string cmdline = config.cmdline;
  UVM_CHECK(AttachVirtioDevices(*vm, mmio, cmdline));
  if (!restoring) {
    LinuxImage image{config.kernel, config.kernel_fd, config.initrd, cmdline};
    UVM_CHECK(LoadLinux(*vm->machine, image));
    vm->timer.Mark("kernel loaded");
  }
  devices::Bus::Builder pio;
  UVM_CHECK(AttachLegacyDevices(*vm, pio));
  vm->pio_bus.emplace(std::move(pio).Build());
  vm->mmio_bus.emplace(std::move(mmio).Build());
  if (config.console_in >= 0) {
    BuiltLinuxVm* self = vm.get();
    vm->console.emplace(config.console_in, *vm->serial, [self] {
      self->latch->Report({ExitKind::kHostSignal, SIGINT, "stopped from the console (Ctrl-A x)"});
    });
    UVM_CHECK(vm->console->Start(*vm->loop));
  }
  if (config.stop_on_signals) UVM_CHECK(StopOnSignals(*vm));
  if (!vm->disks.empty()) UVM_CHECK(PollDiskSizes(*vm));
  // After the latch: a SAVE request stops the VM through it. Before the restore below, so a
  // socket path that cannot be bound fails before the guest runs.
  if (!config.api_sock.empty()) {
    ExitLatch* latch = vm->latch;
    VcpuGate* gate = &vm->gate;
    ControlSocket::Handlers handlers;
    handlers.stop_for_save = [latch] {
      return latch->Report({ExitKind::kSave, 0, "save requested on the control socket"});
    };
    // Parking a vCPU takes microseconds; a second means one is stuck in a device's handler.
    handlers.pause = [gate] { return gate->Pause(std::chrono::seconds(1)); };
    handlers.resume = [gate]() -> Result<void> {
      gate->Resume();
      return {};
    };
    UVM_TRY(vm->control, ControlSocket::Create(config.api_sock, *vm->loop, std::move(handlers)));
  }
  if (restoring) {
    UVM_CHECK(RestoreDeviceState(*vm));
    vm->timer.Mark("devices restored");
  }
  return vm;
}

}  // namespace uvm::vmm
