#include "runtime/vm_shape.h"

#include <unistd.h>

#include <string>

#include "boot/layout.h"

namespace uvm::runtime {

Result<void> ValidateVmShape(uint64_t memory_mib, int cpus) {
  if (cpus < 1 || cpus > boot::kMaxCpus) {
    return Err(ErrorCode::kInvalidArgument, "--cpus " + std::to_string(cpus) + ": must be 1 to " +
                                                std::to_string(boot::kMaxCpus));
  }
  if (memory_mib < (boot::kMinRamBytes >> 20)) {
    return Err(ErrorCode::kInvalidArgument, "--memory " + std::to_string(memory_mib) +
                                                ": a guest needs at least " +
                                                std::to_string(boot::kMinRamBytes >> 20) + " MiB");
  }
  const uint64_t host_bytes =
      static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (memory_mib > (1ull << 20) || (memory_mib << 20) > host_bytes) {
    return Err(ErrorCode::kInvalidArgument, "--memory " + std::to_string(memory_mib) +
                                                ": more than this host's " +
                                                std::to_string(host_bytes >> 20) + " MiB of RAM");
  }
  return {};
}

}  // namespace uvm::runtime
