// The guest-physical memory map uvm gives an x86-64 Linux guest. One definition: the boot code
// writes these structures, the VMM maps devices around them, the e820 map describes them.
//
//   0x0000_0500  GDT (4 entries)                     0x0000_0520  IDT (empty; limit 0)
//   0x0000_7000  boot_params ("zero page")           0x0000_9000  PML4, PDPT, 4 PDs (identity, 4
//   GiB) 0x0002_0000  kernel command line (<= 2048 bytes, COMMAND_LINE_SIZE of Linux 6.1 x86)
//   0x0009_fc00  MP floating pointer + config table (last KB of base memory, where Linux scans)
//   0x0010_0000  bzImage protected-mode code (boot protocol's default); vmlinux at its own p_paddr
//   ...          RAM; the initrd goes at the top of low RAM
//   0xc000_0000  MMIO gap: virtio-mmio devices, IOAPIC (0xfec0_0000), LAPIC (0xfee0_0000)
//   0x1_0000_0000  RAM above 4 GiB when the guest has more than 3 GiB
#pragma once

#include <cstdint>
#include <vector>

#include "base/guest_memory.h"

namespace uvm::boot {

inline constexpr uint64_t kGdtAddr = 0x500;
inline constexpr uint64_t kIdtAddr = 0x520;
inline constexpr uint64_t kZeroPageAddr = 0x7000;
inline constexpr uint64_t kPml4Addr = 0x9000;
inline constexpr uint64_t kPdptAddr = 0xa000;
inline constexpr uint64_t kPdAddr = 0xb000;  // four 4 KiB page directories: 0xb000..0xefff
inline constexpr uint64_t kBootStackTop = 0x8ff0;
inline constexpr uint64_t kCmdlineAddr = 0x20000;
inline constexpr uint64_t kCmdlineMax = 2048;  // including the terminating NUL
inline constexpr uint64_t kEbdaStart = 0x9fc00;
inline constexpr uint64_t kMpTableAddr = kEbdaStart;
inline constexpr uint64_t kHighMemStart = 0x100000;
inline constexpr uint64_t kMmioGapStart = 0xc0000000;
inline constexpr uint64_t kMmioGapEnd = 0x100000000;
inline constexpr uint64_t kIoapicAddr = 0xfec00000;
inline constexpr uint64_t kLapicAddr = 0xfee00000;
// virtio-mmio device windows: 4 KiB each from here (see devices/virtio).
inline constexpr uint64_t kVirtioMmioBase = 0xd0000000;
inline constexpr uint64_t kVirtioMmioSize = 0x1000;

// Smallest guest RAM uvm accepts: page tables, boot data and a useful kernel need more than this.
inline constexpr uint64_t kMinRamBytes = 64ull << 20;
inline constexpr int kMaxCpus = 16;

// RAM regions for a guest with `ram_bytes` of memory: below the MMIO gap first, the rest above 4
// GiB.
std::vector<RegionSpec> RamRegions(uint64_t ram_bytes);

}  // namespace uvm::boot
