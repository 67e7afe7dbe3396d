// The Intel MultiProcessor Specification 1.4 tables through which Linux discovers the guest's
// CPUs, the IOAPIC and how ISA interrupts are wired, without ACPI. Linux scans the last KiB of
// base memory for the floating pointer (arch/x86/kernel/mpparse.c), hence kMpTableAddr.
#pragma once

#include <cstdint>
#include <vector>

#include "base/guest_memory.h"
#include "base/result.h"

namespace uvm::boot {

inline constexpr uint8_t kIoapicVersion = 0x11;
inline constexpr uint8_t kLapicVersion = 0x14;  // an integrated (xAPIC) local APIC
inline constexpr int kIsaIrqs = 16;

// The floating pointer structure followed by the configuration table, checksums filled in.
// num_cpus must be 1..kMaxCpus.
Result<std::vector<uint8_t>> BuildMpTable(int num_cpus);

// BuildMpTable() written at kMpTableAddr; it must end below 0xa0000.
Result<void> WriteMpTable(const GuestMemory& mem, int num_cpus);

}  // namespace uvm::boot
