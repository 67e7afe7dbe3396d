// Tiny guests for the snapshot tests and `uvm bench restore` (vmm/tiny_guest.h machines with the
// in-kernel irqchip). They report through port writes, which always exit to uvm.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "vmm/kvm.h"

namespace uvm::vmm::testing {

inline constexpr uint16_t kCheckpointPort = 0xe0;
inline constexpr uint16_t kResultPort = 0xe1;
inline constexpr uint16_t kDonePort = 0xe2;

// Where the counting guest keeps its table: 4096 u64 words, XORed with its running value.
inline constexpr uint64_t kCountTableAddr = 0x200000;
inline constexpr uint64_t kCountTableBytes = 4096 * 8;

// Runs `iterations` (a multiple of 256) of x = x * 0x5851f42d + i, XORing x into the table word
// i % 4096, and writes i to kCheckpointPort every 256 iterations. At the end: x's low and high
// halves to kResultPort, then kDonePort.
std::vector<uint8_t> CountingGuestCode(uint32_t iterations);

// Writes a non-zero word to `pages` pages from 16 MiB up, then writes kCheckpointPort,
// kResultPort and kDonePort, one instruction each: a snapshot taken at the first shows, on restore,
// that the very next instruction ran.
std::vector<uint8_t> TouchingGuestCode(uint32_t pages);

struct PortWrite {
  uint16_t port;
  uint32_t value;
};

// KVM_RUN until the guest writes a port (port reads see zero). nullopt when the run was
// interrupted (a kick, immediate_exit); an error for any other exit.
Result<std::optional<PortWrite>> RunUntilPortWrite(Vcpu& vcpu);

}  // namespace uvm::vmm::testing
