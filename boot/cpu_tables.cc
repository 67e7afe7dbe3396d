#include "boot/cpu_tables.h"

#include <cstddef>

#include "boot/layout.h"

namespace uvm::boot {
namespace {

// Page-table entry bits (Intel SDM vol. 3, "4-Level Paging").
constexpr uint64_t kPtePresent = 1ull << 0;
constexpr uint64_t kPteWritable = 1ull << 1;
constexpr uint64_t kPtePageSize = 1ull << 7;  // in a PD entry: maps a 2 MiB page
constexpr size_t kEntriesPerTable = 512;
constexpr uint64_t kTableBytes = kEntriesPerTable * sizeof(uint64_t);
constexpr uint64_t kLargePage = 2ull << 20;
constexpr int kPageDirectories = 4;  // one per GiB of the 4 GiB identity map

using Table = std::array<uint64_t, kEntriesPerTable>;

}  // namespace

SegmentDesc DecodeSegmentDescriptor(uint64_t d, uint16_t selector) {
  SegmentDesc s{};
  s.base = (d >> 16 & 0xffffff) | (d >> 56 & 0xff) << 24;
  const uint32_t raw_limit = static_cast<uint32_t>((d & 0xffff) | (d >> 48 & 0xf) << 16);
  s.selector = selector;
  s.type = d >> 40 & 0xf;
  s.s = d >> 44 & 1;
  s.dpl = d >> 45 & 3;
  s.present = d >> 47 & 1;
  s.avl = d >> 52 & 1;
  s.l = d >> 53 & 1;
  s.db = d >> 54 & 1;
  s.g = d >> 55 & 1;
  // With G=1 the limit counts 4 KiB units and the low 12 bits of the byte limit are all ones.
  s.limit = s.g ? (raw_limit << 12 | 0xfff) : raw_limit;
  return s;
}

SegmentDesc BootSegment(uint16_t selector) {
  const size_t index = selector >> 3;
  return DecodeSegmentDescriptor(index < kBootGdt.size() ? kBootGdt[index] : 0, selector);
}

Result<void> WriteGdt(const GuestMemory& mem) {
  UVM_CHECK(Context(mem.WriteObj(kGdtAddr, kBootGdt), "writing the boot GDT"));
  // One zeroed 16-byte gate: the IDTR limit of 0 already makes every vector invalid, the zeroes
  // just keep stale bytes out of the table.
  const std::array<uint64_t, 2> empty_gate{};
  return Context(mem.WriteObj(kIdtAddr, empty_gate), "writing the boot IDT");
}

Result<uint64_t> WriteIdentityPageTables(const GuestMemory& mem) {
  static_assert(kPdptAddr == kPml4Addr + kTableBytes && kPdAddr == kPdptAddr + kTableBytes);
  Table pml4{};
  pml4[0] = kPdptAddr | kPtePresent | kPteWritable;
  Table pdpt{};
  for (int i = 0; i < kPageDirectories; ++i) {
    pdpt[i] = (kPdAddr + i * kTableBytes) | kPtePresent | kPteWritable;
  }
  UVM_CHECK(Context(mem.WriteObj(kPml4Addr, pml4), "writing the boot PML4"));
  UVM_CHECK(Context(mem.WriteObj(kPdptAddr, pdpt), "writing the boot PDPT"));
  for (int i = 0; i < kPageDirectories; ++i) {
    Table pd{};
    for (size_t j = 0; j < kEntriesPerTable; ++j) {
      const uint64_t phys = (i * kEntriesPerTable + j) * kLargePage;
      pd[j] = phys | kPtePresent | kPteWritable | kPtePageSize;
    }
    UVM_CHECK(Context(mem.WriteObj(kPdAddr + i * kTableBytes, pd), "writing a boot PD"));
  }
  // CR3 holds the PML4's physical address; PCD/PWT stay 0 (write-back).
  return kPml4Addr;
}

}  // namespace uvm::boot
