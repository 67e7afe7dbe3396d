#include "boot/cpu_tables.h"

#include <gtest/gtest.h>

#include <optional>

#include "boot/layout.h"

namespace uvm::boot {
namespace {

TEST(GdtTest, BootCodeSegmentIs64BitFlat) {
  const SegmentDesc cs = BootSegment(kBootCodeSelector);
  EXPECT_EQ(cs.selector, 0x10);
  EXPECT_EQ(cs.base, 0u);
  EXPECT_EQ(cs.limit, 0xffffffffu);
  EXPECT_EQ(cs.type, 0xb);  // execute/read, accessed
  EXPECT_EQ(cs.s, 1);
  EXPECT_EQ(cs.present, 1);
  EXPECT_EQ(cs.dpl, 0);
  EXPECT_EQ(cs.l, 1);
  EXPECT_EQ(cs.db, 0);  // must be 0 when L=1
  EXPECT_EQ(cs.g, 1);
  EXPECT_EQ(cs.avl, 0);
}

TEST(GdtTest, BootDataSegmentIsFlatReadWrite) {
  const SegmentDesc ds = BootSegment(kBootDataSelector);
  EXPECT_EQ(ds.selector, 0x18);
  EXPECT_EQ(ds.limit, 0xffffffffu);
  EXPECT_EQ(ds.type, 0x3);  // read/write, accessed
  EXPECT_EQ(ds.s, 1);
  EXPECT_EQ(ds.present, 1);
  EXPECT_EQ(ds.l, 0);
  EXPECT_EQ(ds.db, 1);
  EXPECT_EQ(ds.g, 1);
}

TEST(GdtTest, DecodesBaseAndByteGranularLimit) {
  const uint64_t d = MakeSegmentDescriptor(0x12345678, 0x54321, 0xf2, 0x1);
  const SegmentDesc s = DecodeSegmentDescriptor(d, 0x2b);
  EXPECT_EQ(s.base, 0x12345678u);
  EXPECT_EQ(s.limit, 0x54321u);  // G=0: bytes
  EXPECT_EQ(s.type, 0x2);
  EXPECT_EQ(s.s, 1);
  EXPECT_EQ(s.dpl, 3);
  EXPECT_EQ(s.present, 1);
  EXPECT_EQ(s.avl, 1);
  EXPECT_EQ(s.g, 0);
  EXPECT_EQ(s.selector, 0x2b);
  // A well-known encoding: the flat 64-bit kernel code descriptor.
  EXPECT_EQ(kBootGdt[2], 0x00af9b000000ffffull);
  EXPECT_EQ(kBootGdt[3], 0x00cf93000000ffffull);
}

class CpuTablesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = GuestMemory::CreateAnonymous({{0, 1 << 20}});
    ASSERT_TRUE(m);
    mem_.emplace(std::move(*m));
    std::memset(mem_->HostPtr(0, 1 << 20), 0xee, 1 << 20);  // stale bytes everywhere
  }
  uint64_t Q(uint64_t gpa) {
    auto v = mem_->ReadObj<uint64_t>(gpa);
    EXPECT_TRUE(v);
    return v ? *v : 0;
  }
  // Walks the tables like the MMU does for a 2 MiB mapping; returns the physical address.
  std::optional<uint64_t> Translate(uint64_t cr3, uint64_t va) {
    const uint64_t pml4e = Q(cr3 + ((va >> 39) & 511) * 8);
    if (!(pml4e & 1)) return std::nullopt;
    const uint64_t pdpte = Q((pml4e & ~0xfffull) + ((va >> 30) & 511) * 8);
    if (!(pdpte & 1) || (pdpte & 0x80)) return std::nullopt;
    const uint64_t pde = Q((pdpte & ~0xfffull) + ((va >> 21) & 511) * 8);
    if (!(pde & 1) || !(pde & 0x80)) return std::nullopt;
    return (pde & ~0x1fffffull & ((1ull << 52) - 1)) | (va & 0x1fffff);
  }
  std::optional<GuestMemory> mem_;
};

TEST_F(CpuTablesTest, GdtAndIdtWritten) {
  ASSERT_TRUE(WriteGdt(*mem_));
  for (int i = 0; i < kGdtEntries; ++i) EXPECT_EQ(Q(kGdtAddr + i * 8), kBootGdt[i]) << i;
  EXPECT_EQ(Q(kGdtAddr), 0u);
  EXPECT_EQ(Q(kGdtAddr + 8), 0u);
  EXPECT_EQ(Q(kIdtAddr), 0u);
  EXPECT_EQ(Q(kIdtAddr + 8), 0u);
  EXPECT_EQ(kGdtLimit, 31);
}

TEST_F(CpuTablesTest, IdentityMapsFourGiB) {
  auto cr3 = WriteIdentityPageTables(*mem_);
  ASSERT_TRUE(cr3) << cr3.error().message;
  EXPECT_EQ(*cr3, kPml4Addr);
  EXPECT_EQ(Q(kPml4Addr), kPdptAddr | 3);
  EXPECT_EQ(Q(kPml4Addr + 8), 0u);  // stale bytes cleared
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Q(kPdptAddr + i * 8), (kPdAddr + i * 0x1000) | 3) << i;
  EXPECT_EQ(Q(kPdptAddr + 4 * 8), 0u);
  // PD 3, entry 0: the 2 MiB page at 3 GiB.
  EXPECT_EQ(Q(kPdAddr + 3 * 0x1000), 0xc0000000ull | 0x83);
  EXPECT_EQ(Q(kPdAddr + 3 * 0x1000 + 511 * 8), 0xffe00000ull | 0x83);
  for (uint64_t va :
       {0x0ull, 0x1234567ull, 0x7fffffffull, 0xc0000000ull, 0xfee00000ull, 0xffffffffull}) {
    EXPECT_EQ(Translate(*cr3, va), va) << std::hex << va;
  }
  EXPECT_EQ(Translate(*cr3, 0x100000000ull), std::nullopt);
}

TEST(CpuTablesSmallMemTest, FailsCleanlyWithoutRam) {
  std::vector<uint8_t> buf(0x600);
  GuestMemory mem = GuestMemory::View(buf.data(), buf.size());
  EXPECT_TRUE(WriteGdt(mem));
  EXPECT_FALSE(WriteIdentityPageTables(mem));
}

}  // namespace
}  // namespace uvm::boot
