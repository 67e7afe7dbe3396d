#include "vmm/cpuid.h"

#include <gtest/gtest.h>

namespace uvm::vmm {
namespace {

kvm_cpuid_entry2 Entry(uint32_t fn, uint32_t idx, uint32_t eax, uint32_t ebx, uint32_t ecx,
                       uint32_t edx, bool indexed = false) {
  kvm_cpuid_entry2 e{};
  e.function = fn;
  e.index = idx;
  e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

std::vector<kvm_cpuid_entry2> HostLike() {
  return {Entry(0x1, 0, 0x00a00f11, 0xff7f0800, 0x7ef8320b, 0x178bfbff),
          Entry(0x4, 0, (1 << 5) | 0x1, 0, 0, 0, true),
          Entry(0x4, 3, (3 << 5) | 0x3, 0, 0, 0, true),
          Entry(0xa, 0, 0x07300403, 1, 2, 3),
          Entry(0xb, 0, 1, 2, 0x100, 99, true),
          Entry(0xb, 1, 7, 64, 0x201, 99, true),
          Entry(0xb, 2, 0, 0, 2, 99, true),
          Entry(0x80000008, 0, 0x3030, 0, 0x703f, 0),
          Entry(0x8000001e, 0, 7, 0x105, 3, 0)};
}

TEST(CpuidTest, Leaf1CarriesApicIdCountAndHypervisorBit) {
  auto e = HostLike();
  NormalizeCpuid(e, 3, 4);
  auto* l1 = FindCpuid(e, 1);
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l1->ebx >> 24, 3u);
  EXPECT_EQ((l1->ebx >> 16) & 0xff, 4u);
  EXPECT_EQ(l1->ebx & 0xffff, 0x0800u);  // CLFLUSH size etc. untouched
  EXPECT_TRUE(l1->ecx & (1u << 31));
  EXPECT_TRUE(l1->edx & (1u << 28));
}

TEST(CpuidTest, SingleCpuClearsHtt) {
  auto e = HostLike();
  NormalizeCpuid(e, 0, 1);
  EXPECT_FALSE(FindCpuid(e, 1)->edx & (1u << 28));
  EXPECT_EQ(FindCpuid(e, 0x80000008)->ecx & 0xff, 0u);
}

TEST(CpuidTest, TopologyLeavesDescribeOneThreadPerCore) {
  auto e = HostLike();
  NormalizeCpuid(e, 5, 6);
  auto* smt = FindCpuid(e, 0xb, 0);
  auto* core = FindCpuid(e, 0xb, 1);
  auto* invalid = FindCpuid(e, 0xb, 2);
  ASSERT_TRUE(smt && core && invalid);
  EXPECT_EQ(smt->ebx, 1u);
  EXPECT_EQ(smt->edx, 5u);
  EXPECT_EQ(core->eax, 3u);  // 6 cores need 3 bits
  EXPECT_EQ(core->ebx, 6u);
  EXPECT_EQ((core->ecx >> 8) & 0xff, 2u);
  EXPECT_EQ(invalid->ebx, 0u);
  EXPECT_EQ((invalid->ecx >> 8) & 0xff, 0u);
  EXPECT_EQ(FindCpuid(e, 4, 0)->eax >> 26, 5u);
  EXPECT_EQ((FindCpuid(e, 4, 0)->eax >> 14) & 0xfff, 0u);
  EXPECT_EQ((FindCpuid(e, 4, 3)->eax >> 14) & 0xfff, 5u);
  EXPECT_EQ(FindCpuid(e, 0x80000008)->ecx & 0xff, 5u);
  EXPECT_EQ(FindCpuid(e, 0x8000001e)->eax, 5u);
}

TEST(CpuidTest, TscDeadlineBitIsAddedAndSurvivesNormalizing) {
  auto e = HostLike();
  FindCpuid(e, 1)->ecx &= ~(1u << 24);
  EnableTscDeadline(e);
  NormalizeCpuid(e, 1, 2);
  EXPECT_TRUE(FindCpuid(e, 1)->ecx & (1u << 24));
  EXPECT_TRUE(FindCpuid(e, 1)->ecx & (1u << 31));  // the other leaf-1 bits stay as they were
}

TEST(CpuidTest, PmuLeafZeroed) {
  auto e = HostLike();
  NormalizeCpuid(e, 0, 2);
  auto* pmu = FindCpuid(e, 0xa);
  EXPECT_EQ(pmu->eax | pmu->ebx | pmu->ecx | pmu->edx, 0u);
}

TEST(CpuidTest, FindRespectsSignificantIndex) {
  auto e = HostLike();
  EXPECT_EQ(FindCpuid(e, 0x4, 3)->eax & 0x1f, 0x3u);
  EXPECT_EQ(FindCpuid(e, 0x4, 7), nullptr);
  EXPECT_NE(FindCpuid(e, 0x1, 7), nullptr);  // leaf 1 is not indexed
}

}  // namespace
}  // namespace uvm::vmm
