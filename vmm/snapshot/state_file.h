// The whole `state` file: every section of a snapshot, assembled and parsed. Pure (no KVM), so it
// is unit-tested and fuzzed on its own.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "vmm/snapshot/device_state.h"
#include "vmm/snapshot/vcpu_state.h"
#include "vmm/snapshot/vm_state.h"

namespace uvm::vmm::snapshot {

struct SnapshotState {
  MachineLayout machine;
  VmState vm;
  std::vector<VcpuState> vcpus;  // vcpus[i].index == i
  // Device sections are optional in the file (a state without devices restores only the machine);
  // RestoreDevices() refuses one that does not match the VM's devices.
  std::optional<devices::SerialState> serial;
  std::vector<VirtioSlotState> virtio;  // virtio[i].slot == i
};

std::vector<uint8_t> SerializeState(const SnapshotState& s);
// Frames, CRC and every field; also that each section appears exactly once (one vCPU section per
// vCPU, indices 0..n-1 in order; at most one serial section; virtio slots 0..n-1 in order). The
// result needs only host checks (RestoreSnapshot) to be used.
Result<SnapshotState> ParseState(std::span<const uint8_t> file);

}  // namespace uvm::vmm::snapshot
