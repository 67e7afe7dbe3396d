#include "boot/mptable.h"

#include <cstddef>
#include <cstring>
#include <string>

#include "boot/format.h"
#include "boot/layout.h"

namespace uvm::boot {
namespace {

// MP spec 1.4: the table must stay in base memory, which ends here.
constexpr uint64_t kBaseMemoryEnd = 0xa0000;
constexpr uint8_t kSpecRev14 = 4;

// Entry type codes (MP spec 1.4, chapter 4, "Base MP Configuration Table Entries").
constexpr uint8_t kEntryProcessor = 0;
constexpr uint8_t kEntryBus = 1;
constexpr uint8_t kEntryIoapic = 2;
constexpr uint8_t kEntryIoInterrupt = 3;
constexpr uint8_t kEntryLocalInterrupt = 4;

constexpr uint8_t kCpuEnabled = 1 << 0;
constexpr uint8_t kCpuBootstrap = 1 << 1;
constexpr uint8_t kIoapicUsable = 1 << 0;
// Interrupt types.
constexpr uint8_t kIntVectored = 0;  // "INT": delivered through the IOAPIC with its own vector
constexpr uint8_t kIntNmi = 1;
constexpr uint8_t kIntExtInt = 3;  // the 8259 PIC's output, in virtual wire mode
// Polarity/trigger 0 means "conforms to the bus": edge-triggered, active-high on ISA.
constexpr uint16_t kIntFlagsConform = 0;
constexpr uint8_t kAllLocalApics = 0xff;

// What the processor entries report for CPUID: family 6 (model 15, stepping 1) with an on-chip
// FPU (EDX bit 0) and local APIC (EDX bit 9). Linux only prints these.
constexpr uint32_t kCpuSignature = (6u << 8) | (15u << 4) | 1u;
constexpr uint32_t kCpuFeatures = (1u << 0) | (1u << 9);

#pragma pack(push, 1)
struct FloatingPointer {
  char signature[4];           // "_MP_"
  uint32_t config_table_addr;  // physical address of the configuration table
  uint8_t length;              // in 16-byte paragraphs: 1
  uint8_t spec_rev;
  uint8_t checksum;
  uint8_t features[5];  // all 0: a configuration table is present, no IMCR (virtual wire mode)
};
struct ConfigHeader {
  char signature[4];  // "PCMP"
  uint16_t base_length;
  uint8_t spec_rev;
  uint8_t checksum;
  char oem_id[8];
  char product_id[12];
  uint32_t oem_table_addr;
  uint16_t oem_table_size;
  uint16_t entry_count;
  uint32_t lapic_addr;
  uint16_t ext_table_length;
  uint8_t ext_table_checksum;
  uint8_t reserved;
};
struct ProcessorEntry {
  uint8_t type;
  uint8_t lapic_id;
  uint8_t lapic_version;
  uint8_t cpu_flags;
  uint32_t cpu_signature;
  uint32_t feature_flags;
  uint32_t reserved[2];
};
struct BusEntry {
  uint8_t type;
  uint8_t bus_id;
  char bus_type[6];  // space-padded
};
struct IoapicEntry {
  uint8_t type;
  uint8_t ioapic_id;
  uint8_t version;
  uint8_t flags;
  uint32_t addr;
};
// I/O and local interrupt assignment entries share this layout.
struct InterruptEntry {
  uint8_t type;
  uint8_t irq_type;
  uint16_t irq_flags;
  uint8_t src_bus_id;
  uint8_t src_bus_irq;
  uint8_t dst_apic_id;
  uint8_t dst_pin;  // IOAPIC input pin, or LINT0/LINT1 for local interrupts
};
#pragma pack(pop)

static_assert(sizeof(FloatingPointer) == 16);
static_assert(sizeof(ConfigHeader) == 44);
static_assert(sizeof(ProcessorEntry) == 20);
static_assert(sizeof(BusEntry) == 8);
static_assert(sizeof(IoapicEntry) == 8);
static_assert(sizeof(InterruptEntry) == 8);

template <class T>
void Append(std::vector<uint8_t>& out, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

// The value that makes the bytes of [p, p+n) sum to 0 modulo 256 (MP spec: every checksum).
uint8_t Checksum(const uint8_t* p, size_t n) {
  uint8_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return static_cast<uint8_t>(-sum);
}

}  // namespace

Result<std::vector<uint8_t>> BuildMpTable(int num_cpus) {
  if (num_cpus < 1 || num_cpus > kMaxCpus) {
    return Err("MP table: " + std::to_string(num_cpus) + " CPUs requested; uvm supports 1 to " +
               std::to_string(kMaxCpus));
  }
  const uint8_t ioapic_id = static_cast<uint8_t>(num_cpus);  // after the CPUs' APIC ids

  // Entries first, so the header can record their count and length.
  std::vector<uint8_t> entries;
  uint16_t count = 0;
  for (int cpu = 0; cpu < num_cpus; ++cpu, ++count) {
    ProcessorEntry e{};
    e.type = kEntryProcessor;
    e.lapic_id = static_cast<uint8_t>(cpu);
    e.lapic_version = kLapicVersion;
    e.cpu_flags = kCpuEnabled | (cpu == 0 ? kCpuBootstrap : 0);
    e.cpu_signature = kCpuSignature;
    e.feature_flags = kCpuFeatures;
    Append(entries, e);
  }
  BusEntry bus{kEntryBus, 0, {'I', 'S', 'A', ' ', ' ', ' '}};
  Append(entries, bus);
  ++count;
  IoapicEntry ioapic{kEntryIoapic, ioapic_id, kIoapicVersion, kIoapicUsable,
                     static_cast<uint32_t>(kIoapicAddr)};
  Append(entries, ioapic);
  ++count;
  // ISA IRQ n -> IOAPIC pin n: KVM's default GSI routing wires GSI n to IOAPIC pin n.
  for (int irq = 0; irq < kIsaIrqs; ++irq, ++count) {
    InterruptEntry e{kEntryIoInterrupt,         kIntVectored, kIntFlagsConform,         bus.bus_id,
                     static_cast<uint8_t>(irq), ioapic_id,    static_cast<uint8_t>(irq)};
    Append(entries, e);
  }
  // Virtual wire mode: the PIC feeds LINT0 as ExtINT, NMIs arrive on LINT1 (MP spec 3.6.2.2).
  Append(entries, InterruptEntry{kEntryLocalInterrupt, kIntExtInt, kIntFlagsConform, bus.bus_id, 0,
                                 kAllLocalApics, 0});
  Append(entries, InterruptEntry{kEntryLocalInterrupt, kIntNmi, kIntFlagsConform, bus.bus_id, 0,
                                 kAllLocalApics, 1});
  count += 2;

  ConfigHeader hdr{};
  std::memcpy(hdr.signature, "PCMP", 4);
  hdr.base_length = static_cast<uint16_t>(sizeof(ConfigHeader) + entries.size());
  hdr.spec_rev = kSpecRev14;
  std::memcpy(hdr.oem_id, "UVM     ", 8);
  std::memcpy(hdr.product_id, "UVM KVM GUES", 12);
  hdr.entry_count = count;
  hdr.lapic_addr = static_cast<uint32_t>(kLapicAddr);

  FloatingPointer fp{};
  std::memcpy(fp.signature, "_MP_", 4);
  fp.config_table_addr = static_cast<uint32_t>(kMpTableAddr + sizeof(FloatingPointer));
  fp.length = 1;
  fp.spec_rev = kSpecRev14;

  std::vector<uint8_t> out;
  out.reserve(sizeof fp + hdr.base_length);
  Append(out, fp);
  Append(out, hdr);
  out.insert(out.end(), entries.begin(), entries.end());
  // Checksum fields are still 0, so summing the whole structure gives the right complement.
  out[offsetof(FloatingPointer, checksum)] = Checksum(out.data(), sizeof fp);
  out[sizeof fp + offsetof(ConfigHeader, checksum)] =
      Checksum(out.data() + sizeof fp, hdr.base_length);
  return out;
}

Result<void> WriteMpTable(const GuestMemory& mem, int num_cpus) {
  UVM_TRY(std::vector<uint8_t> table, BuildMpTable(num_cpus));
  if (kMpTableAddr + table.size() > kBaseMemoryEnd) {
    return Err("MP table (" + std::to_string(table.size()) + " bytes) does not fit below " +
               Hex(kBaseMemoryEnd));
  }
  return Context(mem.Write(kMpTableAddr, table), "writing the MP table");
}

}  // namespace uvm::boot
