// The whole `state` file: every section of a snapshot, assembled and parsed. Pure (no KVM), so it
// is unit-tested and fuzzed on its own.
#pragma once

#include <span>
#include <vector>

#include "base/result.h"
#include "vmm/snapshot/vcpu_state.h"
#include "vmm/snapshot/vm_state.h"

namespace uvm::vmm::snapshot {

struct SnapshotState {
  MachineLayout machine;
  VmState vm;
  std::vector<VcpuState> vcpus;  // vcpus[i].index == i
};

std::vector<uint8_t> SerializeState(const SnapshotState& s);
// Frames, CRC and every field; also that each section appears exactly once (one vCPU section per
// vCPU, indices 0..n-1 in order). The result needs only host checks (RestoreSnapshot) to be used.
Result<SnapshotState> ParseState(std::span<const uint8_t> file);

}  // namespace uvm::vmm::snapshot
