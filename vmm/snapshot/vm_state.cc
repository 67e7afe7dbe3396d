#include "vmm/snapshot/vm_state.h"

#include <string>

#include "boot/layout.h"
#include "vmm/snapshot/codec.h"

namespace uvm::vmm::snapshot {
namespace {

constexpr uint64_t kPage = 4096;

bool IsBool(uint8_t v) { return v <= 1; }

}  // namespace

uint64_t MachineLayout::total_bytes() const {
  uint64_t total = 0;
  for (const RegionSpec& r : regions) total += r.size;
  return total;
}

Result<void> ValidateLayout(const MachineLayout& m) {
  if (m.vcpus == 0 || m.vcpus > kMaxVcpus) {
    return Err("machine: " + std::to_string(m.vcpus) + " vCPUs (1.." + std::to_string(kMaxVcpus) +
               " allowed)");
  }
  if (m.regions.empty() || m.regions.size() > kMaxRegions) {
    return Err("machine: " + std::to_string(m.regions.size()) + " RAM regions (1.." +
               std::to_string(kMaxRegions) + " allowed)");
  }
  uint64_t prev_end = 0, total = 0;
  for (const RegionSpec& r : m.regions) {
    if (r.size == 0 || (r.gpa | r.size) % kPage != 0) {
      return Err("machine: RAM region not page-aligned or empty");
    }
    if (r.gpa < prev_end || r.size > kMaxRamBytes || r.gpa > kMaxRamBytes * 4) {
      return Err("machine: RAM regions overlap, are out of order or out of range");
    }
    const uint64_t end = r.gpa + r.size;  // no overflow: both bounded above
    // The LAPIC, IOAPIC and virtio windows live in the gap below 4 GiB: RAM there would shadow
    // them.
    if (r.gpa < boot::kMmioGapEnd && end > boot::kMmioGapStart) {
      return Err("machine: a RAM region overlaps the MMIO gap below 4 GiB");
    }
    total += r.size;
    if (total > kMaxRamBytes) return Err("machine: more guest RAM than uvm supports");
    prev_end = end;
  }
  return {};
}

std::vector<uint8_t> EncodeMachine(const MachineLayout& m) {
  ByteWriter w;
  w.U32(m.vcpus);
  w.U32(static_cast<uint32_t>(m.regions.size()));
  for (const RegionSpec& r : m.regions) {
    w.U64(r.gpa);
    w.U64(r.size);
  }
  return w.Take();
}

Result<MachineLayout> DecodeMachine(std::span<const uint8_t> payload) {
  ByteReader r(payload, "machine section");
  MachineLayout m;
  UVM_TRY(m.vcpus, r.U32());
  UVM_TRY(uint32_t count, r.U32());
  if (count == 0 || count > kMaxRegions) {
    return Err("machine: " + std::to_string(count) + " RAM regions (1.." +
               std::to_string(kMaxRegions) + " allowed)");
  }
  for (uint32_t i = 0; i < count; ++i) {
    RegionSpec s{};
    UVM_TRY(s.gpa, r.U64());
    UVM_TRY(s.size, r.U64());
    m.regions.push_back(s);
  }
  UVM_CHECK(r.ExpectEnd());
  UVM_CHECK(ValidateLayout(m));
  return m;
}

std::vector<uint8_t> EncodeClock(const kvm_clock_data& c) {
  ByteWriter w;
  w.U64(c.clock);
  w.U32(c.flags);
  return w.Take();
}

Result<kvm_clock_data> DecodeClock(std::span<const uint8_t> payload) {
  ByteReader r(payload, "clock section");
  kvm_clock_data c{};
  UVM_TRY(c.clock, r.U64());
  UVM_TRY(c.flags, r.U32());
  UVM_CHECK(r.ExpectEnd());
  // Only the flags KVM_GET_CLOCK reports about the clock's source may appear; restore passes none
  // of them back (the value is set as a plain kvmclock nanosecond count).
  constexpr uint32_t kKnown = KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC;
  if (c.flags & ~kKnown) return Err("clock: unknown flags");
  return c;
}

Result<void> ValidatePic(const kvm_pic_state& p, const char* which) {
  // The 8259's one-bit latches (Intel 8259A datasheet; KVM's i8259.c keeps them as u8 0/1).
  const uint8_t bools[] = {
      p.read_reg_select,           p.poll,  p.special_mask, p.rotate_on_auto_eoi,
      p.special_fully_nested_mode, p.init4, p.auto_eoi};
  for (uint8_t b : bools) {
    if (!IsBool(b)) return Err(std::string("irqchip: ") + which + " PIC latch out of range");
  }
  // init_state counts the ICW2..ICW4 bytes still expected: 0..3.
  if (p.init_state > 3)
    return Err(std::string("irqchip: ") + which + " PIC init state out of range");
  if (p.priority_add > 7)
    return Err(std::string("irqchip: ") + which + " PIC priority out of range");
  // The vector base has its low three bits clear (ICW2 on x86).
  if (p.irq_base & 7) return Err(std::string("irqchip: ") + which + " PIC vector base misaligned");
  return {};
}

Result<void> ValidateIoapic(const kvm_ioapic_state& s) {
  // What a guest can write is accepted as KVM's ioapic.c would: IOREGSEL is stored whole, and every
  // redirection entry bit is guest-writable (KVM masks the read-only ones itself). What a guest
  // cannot change is checked: KVM keeps the IOAPIC at its fixed address and stores the 4-bit id
  // shifted down from bits 24..27 of the ID register.
  if (s.base_address != boot::kIoapicAddr)
    return Err("irqchip: IOAPIC base address is not 0xfec00000");
  if (s.pad != 0) return Err("irqchip: IOAPIC padding not zero");
  if (s.id > 0xf) return Err("irqchip: IOAPIC id out of range");
  return {};
}

std::vector<uint8_t> EncodeIrqchip(const VmState& s) {
  ByteWriter w;
  w.Block(s.pic_master);
  w.Block(s.pic_slave);
  w.Block(s.ioapic);
  return w.Take();
}

Result<void> DecodeIrqchip(std::span<const uint8_t> payload, VmState& out) {
  ByteReader r(payload, "irqchip section");
  UVM_TRY(out.pic_master, r.Block<kvm_pic_state>("PIC master"));
  UVM_TRY(out.pic_slave, r.Block<kvm_pic_state>("PIC slave"));
  UVM_TRY(out.ioapic, r.Block<kvm_ioapic_state>("IOAPIC"));
  UVM_CHECK(r.ExpectEnd());
  UVM_CHECK(ValidatePic(out.pic_master, "master"));
  UVM_CHECK(ValidatePic(out.pic_slave, "slave"));
  return ValidateIoapic(out.ioapic);
}

Result<void> ValidatePit(const kvm_pit_state2& p) {
  if (p.flags & ~(KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON)) {
    return Err("pit: unknown flags");
  }
  for (uint32_t v : p.reserved) {
    if (v != 0) return Err("pit: reserved words not zero");
  }
  for (const kvm_pit_channel_state& c : p.channels) {
    // i8254: a count register is 16 bits, where 0 means 65536; access modes 1..3
    // (RW_STATE_LSB/MSB/WORD0) or 4 (WORD1, half-way through a word access); 0 before first use.
    if (c.count > 0x10000) return Err("pit: channel count out of range");
    // A control word's 3-bit mode field is stored as written (6 and 7 alias 2 and 3); KVM starts
    // every channel at 0xff, "never programmed".
    if (c.mode > 7 && c.mode != 0xff) return Err("pit: channel mode out of range");
    if (c.read_state > 4 || c.write_state > 4 || c.rw_mode > 4) {
      return Err("pit: channel access state out of range");
    }
    // count_latched holds the access mode of the latched count (KVM's i8254.c), else 0.
    if (!IsBool(c.bcd) || !IsBool(c.gate) || !IsBool(c.status_latched) || c.count_latched > 4) {
      return Err("pit: channel latch out of range");
    }
  }
  return {};
}

std::vector<uint8_t> EncodePit(const kvm_pit_state2& p) {
  ByteWriter w;
  w.Block(p);
  return w.Take();
}

Result<kvm_pit_state2> DecodePit(std::span<const uint8_t> payload) {
  ByteReader r(payload, "pit section");
  UVM_TRY(auto p, r.Block<kvm_pit_state2>("PIT"));
  UVM_CHECK(r.ExpectEnd());
  UVM_CHECK(ValidatePit(p));
  return p;
}

}  // namespace uvm::vmm::snapshot
