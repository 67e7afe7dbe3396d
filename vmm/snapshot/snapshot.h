// Snapshot and restore of a whole VM (ARCHITECTURE.md "Snapshot contract"): a directory holding
// `state` (format.h) and `memory` (guest RAM, the regions back to back, written once). Restore maps
// `memory` MAP_PRIVATE into a pre-created empty VM, so clones share untouched pages through the
// page cache.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vmm/machine.h"
#include "vmm/snapshot/kvm_state.h"
#include "vmm/snapshot/state_file.h"
#include "vmm/snapshot/vcpu_state.h"
#include "vmm/snapshot/vm_state.h"

namespace uvm::vmm::snapshot {

inline constexpr char kStateFile[] = "state";
inline constexpr char kMemoryFile[] = "memory";

// Reads the VM's state. The vCPUs must not be running (their threads stopped or parked outside
// KVM_RUN) and their last exit handled; a pending I/O instruction is completed first.
Result<SnapshotState> CaptureMachine(Machine& m);

// The device sections of a snapshot (device_state.h): what the caller's devices saved, or what a
// restore read for the caller to put into its devices with RestoreDevices().
struct DeviceStates {
  std::optional<devices::SerialState> serial;
  std::vector<VirtioSlotState> virtio;  // virtio[i].slot == i
};

// Captures the machine and writes `dir`/state and `dir`/memory (dir is created if missing), with
// `devices` as the device sections. The memory file is sparse: pages that are all zero are left
// as holes.
Result<void> SaveSnapshot(Machine& m, const std::string& dir, const DeviceStates& devices = {});

// A VM with its irqchip, PIT, vCPUs, guest RAM address space and memory slots created, but no
// guest memory contents and no state: what the pool holds. The slots point at an anonymous
// reservation that restore replaces with the snapshot's memory file (KVM's slots name host
// addresses, not mappings, and the VM has never run), so KVM_SET_USER_MEMORY_REGION, which waits
// for an SRCU grace period (measured: up to 4 ms under load), stays off the restore path.
struct EmptyVm {
  Kvm kvm;
  Vm vm;
  std::vector<Vcpu> vcpus;
  GuestMemory memory;
  HostState host;
};
Result<EmptyVm> CreateEmptyVm(int vcpus, const std::vector<RegionSpec>& ram);

// Reads the machine shape (vCPU count and RAM layout) a snapshot needs, for creating empty VMs.
Result<MachineLayout> ReadSnapshotLayout(const std::string& dir);

// Restores `dir` into `empty` (same vCPU count and RAM layout) and returns a machine ready to
// KVM_RUN. The device sections, already decoded and field-checked, go to `devices` when given;
// the caller restores its devices from them before the vCPUs run.
Result<std::unique_ptr<Machine>> RestoreSnapshot(const std::string& dir, EmptyVm empty,
                                                 DeviceStates* devices = nullptr);

}  // namespace uvm::vmm::snapshot
