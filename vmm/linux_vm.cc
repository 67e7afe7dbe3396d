// Running a built Linux VM (vmm/linux_vm.h): the vCPUs and the device loop until the VM ends,
// then a save if that is why it stopped, and the vsock bytes the guest left for the host.
#include "vmm/linux_vm.h"

#include <chrono>
#include <optional>

#include "vmm/linux_vm_parts.h"
#include "vmm/runner.h"

namespace uvm::vmm {
namespace {

// Saves a stopped VM with its devices. The vCPUs are joined; the device loop is not running, so
// the devices are touched from this thread only.
Result<void> SaveLinuxVm(BuiltLinuxVm& vm, const std::string& dir) {
  // No device may hold a guest chain outside the used ring: block requests finish, held receive
  // buffers go back to the avail ring. Before the machine is captured: finishing a request may
  // raise an interrupt the irqchip must hold.
  for (const auto& slot : vm.slots) UVM_CHECK(slot->transport->Quiesce());
  snapshot::DeviceStates devices;
  devices.serial = vm.serial->SaveState();
  for (size_t i = 0; i < vm.slots.size(); ++i) {
    devices.virtio.push_back({static_cast<uint32_t>(i), vm.slots[i]->transport->SaveState()});
  }
  return Context(snapshot::SaveSnapshot(*vm.machine, dir, devices), "saving the VM to " + dir);
}

}  // namespace

LinuxVm::LinuxVm(std::unique_ptr<BuiltLinuxVm> parts) : parts_(std::move(parts)) {}

LinuxVm::~LinuxVm() = default;

Result<std::unique_ptr<LinuxVm>> LinuxVm::Build(const LinuxVmConfig& config) {
  UVM_TRY(auto parts, BuildLinuxVm(config));
  return std::unique_ptr<LinuxVm>(new LinuxVm(std::move(parts)));
}

Result<LinuxVmResult> LinuxVm::Run() {
  BuiltLinuxVm& vm = *parts_;
  vm.timer.Mark("devices ready, starting vCPUs");
  LinuxVmResult result;
  // The tick lets console input blocked on a full UART FIFO make progress.
  result.exit = RunMachine(
      *vm.machine, {*vm.pio_bus, *vm.mmio_bus}, *vm.latch, *vm.loop,
      [&vm] {
        if (vm.console) vm.console->OnTick();
      },
      &vm.gate);
  vm.timer.Mark(std::string("VM ended: ") + ExitKindName(result.exit.kind));
  if (result.exit.kind == ExitKind::kSave) {
    // The directory comes with the request that stopped the VM, if it came on the socket.
    std::optional<std::string> asked = vm.control ? vm.control->pending_save_dir() : std::nullopt;
    const std::string dir = asked ? *asked : vm.config.save_dir;
    if (dir.empty()) return Err("asked to save the VM, but no directory was given");
    Result<void> saved = SaveLinuxVm(vm, dir);
    if (vm.control) vm.control->FinishSave(saved);
    UVM_CHECK(saved);
    result.saved_to = dir;
    vm.timer.Mark("saved to " + dir);
  }
  // What the guest handed to the vsock device before it stopped still reaches the host readers
  // (a guest may write and power off at once); bounded, so a reader that went away cannot hold
  // uvm up.
  if (vm.vsock) vm.vsock->DrainToHost(std::chrono::seconds(1), std::chrono::seconds(10));
  std::lock_guard lock(vm.panic_mu);
  result.panicked = vm.panic.panicked();
  return result;
}

Result<LinuxVmResult> RunLinuxVm(const LinuxVmConfig& config) {
  UVM_TRY(auto vm, LinuxVm::Build(config));
  return vm->Run();
}

}  // namespace uvm::vmm
