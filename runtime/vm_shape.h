// The size of a VM: memory and vCPUs, and the one check every command that starts a VM applies
// (`uvm boot`, `uvm snapshot restore`, `uvm run`, `uvm template create`, `uvm pool start`).
#pragma once

#include <cstdint>

#include "base/result.h"

namespace uvm::runtime {

// 1 to boot::kMaxCpus vCPUs; at least boot::kMinRamBytes of memory and at most 1 TiB or this
// host's RAM, whichever is less. The errors name the flags (--memory, --cpus).
Result<void> ValidateVmShape(uint64_t memory_mib, int cpus);

}  // namespace uvm::runtime
