// The CPU state tables the 64-bit boot protocol requires before the kernel's first instruction
// (Linux Documentation/x86/boot.rst, "64-bit Boot Protocol"): a GDT with flat 4 GiB descriptors
// for __BOOT_CS (0x10) and __BOOT_DS (0x18), an (empty) IDT, and identity-mapped page tables
// covering the kernel, boot_params and the command line. No <linux/kvm.h> here: the VMM turns a
// SegmentDesc into a struct kvm_segment.
#pragma once

#include <array>
#include <cstdint>

#include "base/guest_memory.h"
#include "base/result.h"

namespace uvm::boot {

inline constexpr uint16_t kBootCodeSelector = 0x10;
inline constexpr uint16_t kBootDataSelector = 0x18;
inline constexpr int kGdtEntries = 4;
inline constexpr uint16_t kGdtLimit = kGdtEntries * 8 - 1;  // GDTR.limit: size in bytes - 1
inline constexpr uint16_t kIdtLimit = 0;  // no gates: any exception before Linux's IDT is fatal

// Encodes a segment descriptor from its parts (Intel SDM vol. 3, "Segment Descriptors").
// access = P | DPL | S | type (bits 40..47); flags = G | D/B | L | AVL (bits 52..55).
constexpr uint64_t MakeSegmentDescriptor(uint32_t base, uint32_t limit, uint8_t access,
                                         uint8_t flags) {
  return (uint64_t{limit} & 0xffff) | ((uint64_t{base} & 0xffffff) << 16) |
         (uint64_t{access} << 40) | ((uint64_t{limit} >> 16 & 0xf) << 48) |
         (uint64_t{flags} & 0xf) << 52 | (uint64_t{base} >> 24 & 0xff) << 56;
}

// The boot GDT, indexed by selector / 8. Linux's boot layout leaves entries 0 and 1 null. Both
// segments are flat (base 0, 4 GiB limit with 4 KiB granularity) and marked accessed, so the CPU
// never needs to write the accessed bit back into guest memory.
//   code: present, DPL 0, execute/read (type 0xb), L=1 (64-bit), G=1
//   data: present, DPL 0, read/write (type 0x3), D/B=1, G=1
inline constexpr std::array<uint64_t, kGdtEntries> kBootGdt = {
    0,
    0,
    MakeSegmentDescriptor(0, 0xfffff, 0x9b, 0xa),
    MakeSegmentDescriptor(0, 0xfffff, 0x93, 0xc),
};

// A descriptor split into the fields of a hidden segment register (what KVM's kvm_segment holds).
// limit is in bytes: a G=1 descriptor's 20-bit limit scaled to 4 KiB pages.
struct SegmentDesc {
  uint64_t base;
  uint32_t limit;
  uint16_t selector;
  uint8_t type, present, dpl, db, s, l, g, avl;
};

SegmentDesc DecodeSegmentDescriptor(uint64_t descriptor, uint16_t selector);

// The decoded boot GDT entry for kBootCodeSelector or kBootDataSelector.
SegmentDesc BootSegment(uint16_t selector);

// Writes kBootGdt at kGdtAddr and a zeroed IDT entry at kIdtAddr.
Result<void> WriteGdt(const GuestMemory& mem);

// Builds 4-level page tables at kPml4Addr/kPdptAddr/kPdAddr that identity-map 0..4 GiB with
// 2 MiB pages, and returns the CR3 value to load.
Result<uint64_t> WriteIdentityPageTables(const GuestMemory& mem);

}  // namespace uvm::boot
