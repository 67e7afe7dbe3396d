#include "vmm/cpu_setup.h"

#include <gtest/gtest.h>

#include "boot/cpu_tables.h"
#include "boot/layout.h"

namespace uvm::vmm {
namespace {

TEST(CpuSetupTest, LongModeSregsFollowTheBootProtocol) {
  kvm_sregs s = LongModeSregs(kvm_sregs{}, 0x9000);
  EXPECT_EQ(s.cs.selector, boot::kBootCodeSelector);
  EXPECT_EQ(s.cs.l, 1);
  EXPECT_EQ(s.cs.db, 0);  // L=1 requires D=0
  EXPECT_EQ(s.cs.dpl, 0);
  EXPECT_EQ(s.ds.selector, boot::kBootDataSelector);
  EXPECT_EQ(s.ss.selector, boot::kBootDataSelector);
  EXPECT_EQ(s.cs.base, 0u);
  EXPECT_EQ(s.ds.limit, 0xffffffffu);
  EXPECT_EQ(s.gdt.base, boot::kGdtAddr);
  EXPECT_EQ(s.cr3, 0x9000u);
  EXPECT_TRUE(s.cr0 & 1);             // PE
  EXPECT_TRUE(s.cr0 & (1ull << 31));  // PG
  EXPECT_TRUE(s.cr4 & (1 << 5));      // PAE
  EXPECT_EQ(s.efer & 0x500, 0x500u);  // LME | LMA
}

}  // namespace
}  // namespace uvm::vmm
