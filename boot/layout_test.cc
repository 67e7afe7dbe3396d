#include "boot/layout.h"

#include <gtest/gtest.h>

namespace uvm::boot {
namespace {

TEST(RamRegionsTest, BelowGapIsOneRegion) {
  const auto r = RamRegions(512ull << 20);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].gpa, 0u);
  EXPECT_EQ(r[0].size, 512ull << 20);
  EXPECT_EQ(RamRegions(kMmioGapStart).size(), 1u);  // exactly 3 GiB still fits below the gap
}

TEST(RamRegionsTest, RestGoesAbove4GiB) {
  const auto r = RamRegions(8ull << 30);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].gpa, 0u);
  EXPECT_EQ(r[0].size, kMmioGapStart);
  EXPECT_EQ(r[1].gpa, kMmioGapEnd);
  EXPECT_EQ(r[1].size, (8ull << 30) - kMmioGapStart);
  EXPECT_TRUE(RamRegions(0).empty());
}

}  // namespace
}  // namespace uvm::boot
