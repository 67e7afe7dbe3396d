#include "boot/mptable.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "boot/layout.h"

namespace uvm::boot {
namespace {

uint8_t Sum(const uint8_t* p, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; ++i) s = static_cast<uint8_t>(s + p[i]);
  return s;
}
template <class T>
T Get(const std::vector<uint8_t>& v, size_t off) {
  T x;
  std::memcpy(&x, v.data() + off, sizeof x);
  return x;
}

class MpTableTest : public ::testing::TestWithParam<int> {};

TEST_P(MpTableTest, ChecksumsAndEntriesAreConsistent) {
  const int cpus = GetParam();
  auto t = BuildMpTable(cpus);
  ASSERT_TRUE(t) << t.error().message;
  const std::vector<uint8_t>& b = *t;
  // Floating pointer: 16 bytes, "_MP_", points right behind itself.
  ASSERT_GE(b.size(), 16u + 44u);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 4), "_MP_");
  EXPECT_EQ(Get<uint32_t>(b, 4), kMpTableAddr + 16);
  EXPECT_EQ(b[8], 1);  // length in paragraphs
  EXPECT_EQ(b[9], 4);  // spec 1.4
  EXPECT_EQ(Sum(b.data(), 16), 0);
  // Configuration table.
  const size_t c = 16;
  EXPECT_EQ(std::string(b.begin() + c, b.begin() + c + 4), "PCMP");
  const uint16_t length = Get<uint16_t>(b, c + 4);
  ASSERT_EQ(c + length, b.size());
  EXPECT_EQ(b[c + 6], 4);
  EXPECT_EQ(Sum(b.data() + c, length), 0);
  EXPECT_EQ(Get<uint32_t>(b, c + 36), kLapicAddr);
  const uint16_t count = Get<uint16_t>(b, c + 34);
  EXPECT_EQ(count, cpus + 1 + 1 + 16 + 2);

  int procs = 0, buses = 0, ioapics = 0, ioints = 0, lints = 0, bsps = 0;
  size_t off = c + 44;
  for (int i = 0; i < count; ++i) {
    ASSERT_LT(off, b.size());
    switch (b[off]) {
      case 0:
        EXPECT_EQ(b[off + 1], procs) << "APIC id = cpu index";
        EXPECT_TRUE(b[off + 3] & 1) << "enabled";
        bsps += (b[off + 3] & 2) ? 1 : 0;
        if (procs == 0) {
          EXPECT_TRUE(b[off + 3] & 2);
        }
        ++procs;
        off += 20;
        break;
      case 1:
        EXPECT_EQ(std::string(b.begin() + off + 2, b.begin() + off + 8), "ISA   ");
        ++buses;
        off += 8;
        break;
      case 2:
        EXPECT_EQ(b[off + 1], cpus);
        EXPECT_EQ(b[off + 2], 0x11);
        EXPECT_EQ(Get<uint32_t>(b, off + 4), kIoapicAddr);
        ++ioapics;
        off += 8;
        break;
      case 3:
        EXPECT_EQ(b[off + 1], 0);       // INT
        EXPECT_EQ(b[off + 5], ioints);  // ISA IRQ n
        EXPECT_EQ(b[off + 6], cpus);    // -> the IOAPIC
        EXPECT_EQ(b[off + 7], ioints);  // pin n
        ++ioints;
        off += 8;
        break;
      case 4:
        EXPECT_EQ(b[off + 1], lints == 0 ? 3 : 1);  // ExtINT, then NMI
        EXPECT_EQ(b[off + 7], lints);               // LINT0, LINT1
        ++lints;
        off += 8;
        break;
      default:
        FAIL() << "unknown entry type " << int{b[off]};
    }
  }
  EXPECT_EQ(off, b.size());
  EXPECT_EQ(procs, cpus);
  EXPECT_EQ(bsps, 1);
  EXPECT_EQ(buses, 1);
  EXPECT_EQ(ioapics, 1);
  EXPECT_EQ(ioints, 16);
  EXPECT_EQ(lints, 2);
}

INSTANTIATE_TEST_SUITE_P(Cpus, MpTableTest, ::testing::Values(1, 2, 4, kMaxCpus));

TEST(MpTableLimitsTest, CpuCountOutOfRangeRefused) {
  for (int n : {0, -1, kMaxCpus + 1}) {
    auto r = BuildMpTable(n);
    ASSERT_FALSE(r) << n;
    EXPECT_NE(r.error().message.find("1 to 16"), std::string::npos) << r.error().message;
  }
  auto mem = GuestMemory::CreateAnonymous({{0, 1 << 20}});
  ASSERT_TRUE(mem);
  EXPECT_FALSE(WriteMpTable(*mem, 17));
}

TEST(MpTableLimitsTest, WrittenInBaseMemory) {
  auto mem = GuestMemory::CreateAnonymous({{0, 1 << 20}});
  ASSERT_TRUE(mem);
  ASSERT_TRUE(WriteMpTable(*mem, kMaxCpus));
  auto t = BuildMpTable(kMaxCpus);
  ASSERT_TRUE(t);
  EXPECT_LE(kMpTableAddr + t->size(), 0xa0000u);
  EXPECT_EQ(std::memcmp(mem->HostPtr(kMpTableAddr, t->size()), t->data(), t->size()), 0);
  std::vector<uint8_t> small(0x1000);
  EXPECT_FALSE(WriteMpTable(GuestMemory::View(small.data(), small.size()), 1));
}

}  // namespace
}  // namespace uvm::boot
