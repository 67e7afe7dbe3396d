// VM-wide snapshot state: the machine's shape (vCPU count and guest RAM layout), kvmclock, the
// in-kernel irqchip (two i8259 PICs and the IOAPIC) and the i8254 PIT. Plain structs, their section
// payloads, and validation of every field on decode: a state file is hostile input (ARCHITECTURE.md
// "The guest is hostile").
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <vector>

#include "base/guest_memory.h"
#include "base/result.h"

namespace uvm::vmm::snapshot {

inline constexpr uint32_t kMaxVcpus = 64;
inline constexpr uint32_t kMaxRegions = 8;
// Guest RAM larger than this is refused (far above any UVM; the memory file is checked too).
inline constexpr uint64_t kMaxRamBytes = 1ull << 40;

// Guest RAM is the regions in order, back to back in the `memory` file; region i is memory slot i.
struct MachineLayout {
  uint32_t vcpus = 0;
  std::vector<RegionSpec> regions;

  uint64_t total_bytes() const;
};

struct VmState {
  kvm_clock_data clock{};
  kvm_pic_state pic_master{};
  kvm_pic_state pic_slave{};
  kvm_ioapic_state ioapic{};
  kvm_pit_state2 pit{};
};

std::vector<uint8_t> EncodeMachine(const MachineLayout& m);
Result<MachineLayout> DecodeMachine(std::span<const uint8_t> payload);

std::vector<uint8_t> EncodeClock(const kvm_clock_data& c);
Result<kvm_clock_data> DecodeClock(std::span<const uint8_t> payload);

std::vector<uint8_t> EncodeIrqchip(const VmState& s);
// Fills pic_master, pic_slave and ioapic of `out`.
Result<void> DecodeIrqchip(std::span<const uint8_t> payload, VmState& out);

std::vector<uint8_t> EncodePit(const kvm_pit_state2& p);
Result<kvm_pit_state2> DecodePit(std::span<const uint8_t> payload);

// Field checks, exposed for the unit tests.
Result<void> ValidateLayout(const MachineLayout& m);
Result<void> ValidatePic(const kvm_pic_state& p, const char* which);
Result<void> ValidateIoapic(const kvm_ioapic_state& s);
Result<void> ValidatePit(const kvm_pit_state2& p);

}  // namespace uvm::vmm::snapshot
