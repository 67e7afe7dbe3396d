// Every field check of a decoded state file, each on its own: a valid state with one field made
// hostile must be refused with an error naming that field.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>

#include "vmm/snapshot/codec.h"
#include "vmm/snapshot/format.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/snapshot/test_state.h"

namespace uvm::vmm::snapshot {
namespace {

TEST(SnapshotState, RoundTripsEveryField) {
  SnapshotState s = ValidTestState();
  auto parsed = ParseState(SerializeState(s));
  ASSERT_TRUE(parsed) << parsed.error().message;
  // Serialising the parsed state gives the same bytes: nothing was lost or defaulted.
  EXPECT_EQ(SerializeState(*parsed), SerializeState(s));
  EXPECT_EQ(parsed->vcpus.size(), 2u);
  EXPECT_EQ(parsed->vcpus[1].regs.rip, 0x10001u);
  EXPECT_EQ(parsed->vcpus[0].msrs[0].data, 42u);
  EXPECT_EQ(parsed->vm.clock.clock, 123456789u);
  EXPECT_EQ(parsed->machine.regions[1].gpa, 0x100000000ull);
  EXPECT_EQ(std::memcmp(parsed->vcpus[1].lapic.regs, s.vcpus[1].lapic.regs, 1024), 0);
}

struct Hostile {
  const char* name;
  std::function<void(SnapshotState&)> mutate;
  const char* error;  // a substring of the expected error
};

class SnapshotStateRefuses : public ::testing::TestWithParam<Hostile> {};

TEST_P(SnapshotStateRefuses, TheField) {
  SnapshotState s = ValidTestState();
  GetParam().mutate(s);
  auto parsed = ParseState(SerializeState(s));
  ASSERT_FALSE(parsed) << GetParam().name;
  EXPECT_NE(parsed.error().message.find(GetParam().error), std::string::npos)
      << parsed.error().message;
}

VcpuState& V(SnapshotState& s) { return s.vcpus[0]; }

const Hostile kHostile[] = {
    {"no vcpus",
     [](auto& s) {
       s.machine.vcpus = 0;
       s.vcpus.clear();
     },
     "0 vCPUs"},
    {"too many vcpus", [](auto& s) { s.machine.vcpus = 65; }, "65 vCPUs"},
    {"vcpu count mismatch", [](auto& s) { s.machine.vcpus = 3; }, "2 vCPU sections for a 3-vCPU"},
    {"vcpus out of order", [](auto& s) { std::swap(s.vcpus[0], s.vcpus[1]); }, "out of order"},
    {"no regions", [](auto& s) { s.machine.regions.clear(); }, "0 RAM regions"},
    {"too many regions",
     [](auto& s) {
       s.machine.regions.assign(9, {0, 4096});
     },
     "9 RAM regions"},
    {"unaligned region", [](auto& s) { s.machine.regions[0].size = 4097; }, "page-aligned"},
    {"empty region", [](auto& s) { s.machine.regions[0].size = 0; }, "page-aligned or empty"},
    {"overlapping regions", [](auto& s) { s.machine.regions[1].gpa = 0x1000; }, "overlap"},
    {"region in the MMIO gap",
     [](auto& s) {
       s.machine.regions[1] = {0xfe000000, 0x100000};
     },
     "MMIO gap"},
    {"huge region", [](auto& s) { s.machine.regions[1].size = 1ull << 62; }, "out of range"},
    {"clock flags", [](auto& s) { s.vm.clock.flags = 0x100; }, "clock: unknown flags"},
    {"PIC latch", [](auto& s) { s.vm.pic_master.poll = 2; }, "master PIC latch"},
    {"PIC init state", [](auto& s) { s.vm.pic_slave.init_state = 4; }, "slave PIC init state"},
    {"PIC vector base", [](auto& s) { s.vm.pic_master.irq_base = 0x21; }, "vector base"},
    {"IOAPIC base", [](auto& s) { s.vm.ioapic.base_address = 0x1000; }, "IOAPIC base"},
    {"IOAPIC id", [](auto& s) { s.vm.ioapic.id = 16; }, "IOAPIC id"},
    {"PIT count", [](auto& s) { s.vm.pit.channels[1].count = 0x10001; }, "pit: channel count"},
    {"PIT mode", [](auto& s) { s.vm.pit.channels[2].mode = 8; }, "pit: channel mode"},
    {"PIT access", [](auto& s) { s.vm.pit.channels[0].read_state = 9; }, "access state"},
    {"PIT flags", [](auto& s) { s.vm.pit.flags = 4; }, "pit: unknown flags"},
    {"PIT reserved", [](auto& s) { s.vm.pit.reserved[3] = 1; }, "pit: reserved"},
    {"RFLAGS bit 1", [](auto& s) { V(s).regs.rflags = 0; }, "RFLAGS"},
    {"RFLAGS high bits", [](auto& s) { V(s).regs.rflags = 2 | (1ull << 40); }, "RFLAGS"},
    {"segment type", [](auto& s) { V(s).sregs.cs.type = 16; }, "segment cs"},
    {"segment dpl", [](auto& s) { V(s).sregs.ss.dpl = 4; }, "segment ss"},
    {"table padding", [](auto& s) { V(s).sregs.gdt.padding[0] = 1; }, "table padding"},
    {"CR0 high bits", [](auto& s) { V(s).sregs.cr0 |= 1ull << 40; }, "CR0"},
    {"CR8", [](auto& s) { V(s).sregs.cr8 = 16; }, "CR8"},
    {"EFER", [](auto& s) { V(s).sregs.efer |= 1ull << 20; }, "EFER"},
    {"APIC base", [](auto& s) { V(s).sregs.apic_base |= 1; }, "APIC base"},
    {"two pending interrupts", [](auto& s) { V(s).sregs.interrupt_bitmap[0] = 3; },
     "more than one pending"},
    {"xcrs count", [](auto& s) { V(s).xcrs.nr_xcrs = 17; }, "xcrs"},
    {"xcrs count far out of range (found by the fuzzer)",
     [](auto& s) { V(s).xcrs.nr_xcrs = 0x7fffffff; }, "xcrs: count"},
    {"xcrs unknown register", [](auto& s) { V(s).xcrs.xcrs[0].xcr = 1; }, "xcrs: unknown"},
    {"XCR0 without x87", [](auto& s) { V(s).xcrs.xcrs[0].value = 2; }, "without x87"},
    {"xsave too small", [](auto& s) { V(s).xsave.resize(1024); }, "xsave area of 1024"},
    {"xsave too large", [](auto& s) { V(s).xsave.resize(1 << 20); }, "xsave area of"},
    {"MXCSR", [](auto& s) { V(s).xsave[27] = 1; }, "MXCSR"},
    {"compacted xsave", [](auto& s) { V(s).xsave[527] = 0x80; }, "compacted"},
    {"xsave reserved", [](auto& s) { V(s).xsave[540] = 1; }, "reserved header"},
    {"xsave outside CPUID", [](auto& s) { V(s).xsave[512] = 0x7; }, "CPUID does not offer"},
    {"debugregs flags", [](auto& s) { V(s).debugregs.flags = 1; }, "debugregs"},
    {"DR7 high", [](auto& s) { V(s).debugregs.dr7 = 1ull << 33; }, "DR6/DR7"},
    {"MSR twice", [](auto& s) { V(s).msrs.push_back(V(s).msrs[0]); }, "MSR listed twice"},
    {"MSR reserved", [](auto& s) { V(s).msrs[1].reserved = 1; }, "msrs: reserved"},
    {"MSR count",
     [](auto& s) {
       V(s).msrs.clear();
       for (uint32_t i = 0; i < 256; ++i) V(s).msrs.push_back({i, 0, 0});
     },
     "256 MSRs"},
    {"events flags", [](auto& s) { V(s).events.flags = 0x40; }, "unknown flags"},
    {"exception vector", [](auto& s) { V(s).events.exception.nr = 32; }, "exception"},
    {"exception twice",
     [](auto& s) { V(s).events.exception.injected = V(s).events.exception.pending = 1; },
     "both injected and pending"},
    {"interrupt shadow", [](auto& s) { V(s).events.interrupt.shadow = 4; }, "interrupt"},
    {"NMI pending", [](auto& s) { V(s).events.nmi.pending = 3; }, "NMI"},
    {"SIPI vector", [](auto& s) { V(s).events.sipi_vector = 0x100; }, "SIPI"},
    {"events reserved", [](auto& s) { V(s).events.reserved[5] = 1; }, "reserved"},
    {"mp state", [](auto& s) { V(s).mp_state.mp_state = KVM_MP_STATE_STOPPED; }, "mp state"},
    {"no cpuid", [](auto& s) { V(s).cpuid.clear(); }, "0 CPUID entries"},
    {"cpuid twice", [](auto& s) { V(s).cpuid.push_back(V(s).cpuid[0]); }, "listed twice"},
    {"cpuid flags", [](auto& s) { V(s).cpuid[0].flags = 0x80; }, "entry flags"},
    {"cpuid padding", [](auto& s) { V(s).cpuid[1].padding[2] = 1; }, "padding"},
};

INSTANTIATE_TEST_SUITE_P(All, SnapshotStateRefuses, ::testing::ValuesIn(kHostile),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

// Sections rebuilt by hand: what SerializeState cannot produce.
std::vector<OwnedSection> ValidSections() {
  SnapshotState s = ValidTestState(1);
  return {{SectionId::kMachine, 1, EncodeMachine(s.machine)},
          {SectionId::kClock, 1, EncodeClock(s.vm.clock)},
          {SectionId::kIrqchip, 1, EncodeIrqchip(s.vm)},
          {SectionId::kPit, 1, EncodePit(s.vm.pit)},
          {SectionId::kVcpu, 1, EncodeVcpu(s.vcpus[0])}};
}

std::string ParseError(const std::vector<OwnedSection>& sections) {
  auto r = ParseState(EncodeStateFile(sections));
  return r ? "" : r.error().message;
}

TEST(SnapshotState, HandBuiltSectionsParse) { EXPECT_EQ(ParseError(ValidSections()), ""); }

TEST(SnapshotState, RefusesAMissingSection) {
  for (size_t i = 0; i < 4; ++i) {
    auto sections = ValidSections();
    sections.erase(sections.begin() + static_cast<long>(i));
    EXPECT_NE(ParseError(sections).find("missing"), std::string::npos) << i;
  }
}

TEST(SnapshotState, RefusesAWrongSizedLapicBlock) {
  // The vCPU payload with the LAPIC block's length word changed from 1024 to 1000.
  auto sections = ValidSections();
  auto& p = sections[4].payload;
  const VcpuState v = ValidTestState(1).vcpus[0];
  size_t off = 4 + 4 + sizeof(kvm_regs) + 4 + sizeof(kvm_sregs) + 4 + v.xsave.size() + 4 +
               sizeof(kvm_xcrs) + 4 + sizeof(kvm_debugregs) + 4 + 16 * v.msrs.size();
  uint32_t len;
  std::memcpy(&len, p.data() + off, 4);
  ASSERT_EQ(len, 1024u);
  len = 1000;
  std::memcpy(p.data() + off, &len, 4);
  EXPECT_NE(ParseError(sections).find("LAPIC block is 1000 bytes, expected 1024"),
            std::string::npos)
      << ParseError(sections);
}

TEST(SnapshotState, RefusesEveryTruncatedSectionPayload) {
  const auto good = ValidSections();
  for (size_t i = 0; i < good.size(); ++i) {
    for (size_t n = 0; n < good[i].payload.size(); n += 7) {
      auto sections = good;
      sections[i].payload.resize(n);
      EXPECT_NE(ParseError(sections), "") << "section " << i << " cut to " << n;
    }
  }
}

TEST(SnapshotState, RefusesTrailingBytesInASection) {
  auto sections = ValidSections();
  sections[1].payload.push_back(0);
  EXPECT_NE(ParseError(sections).find("trailing"), std::string::npos);
}

TEST(SnapshotState, RefusesAHugeMsrCount) {
  auto sections = ValidSections();
  SnapshotState s = ValidTestState(1);
  ByteWriter w;  // index, regs, sregs, xsave, xcrs, debugregs, then an absurd MSR count
  w.U32(0);
  w.Block(s.vcpus[0].regs);
  w.Block(s.vcpus[0].sregs);
  w.U32(static_cast<uint32_t>(s.vcpus[0].xsave.size()));
  w.Bytes(s.vcpus[0].xsave);
  w.Block(s.vcpus[0].xcrs);
  w.Block(s.vcpus[0].debugregs);
  w.U32(0xffffffff);
  sections[4].payload = w.Take();
  EXPECT_NE(ParseError(sections).find("4294967295 MSRs"), std::string::npos);
}

}  // namespace
}  // namespace uvm::vmm::snapshot
