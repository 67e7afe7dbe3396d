#include "base/guest_memory.h"

#include <gtest/gtest.h>

#include <array>

namespace uvm {
namespace {

TEST(GuestMemoryTest, RejectsRangesOutsideRegionsAndWrapAround) {
  auto mem = GuestMemory::CreateAnonymous({{0, 0x10000}, {0x100000000ull, 0x1000}});
  ASSERT_TRUE(mem) << mem.error().message;
  EXPECT_NE(mem->HostPtr(0, 0x10000), nullptr);
  EXPECT_EQ(mem->HostPtr(0xffff, 2), nullptr);          // straddles the end
  EXPECT_EQ(mem->HostPtr(0x10000, 1), nullptr);         // in the gap
  EXPECT_EQ(mem->HostPtr(~0ull, 2), nullptr);           // wraps around
  EXPECT_EQ(mem->HostPtr(0x100, ~0ull), nullptr);       // huge length
  EXPECT_NE(mem->HostPtr(0x100000fffull, 1), nullptr);  // last byte of high region
  EXPECT_EQ(mem->HostPtr(0x100000fffull, 2), nullptr);
  EXPECT_EQ(mem->total_size(), 0x11000u);
}

TEST(GuestMemoryTest, ReadWriteRoundTrip) {
  auto mem = GuestMemory::CreateAnonymous({{0, 0x2000}});
  ASSERT_TRUE(mem);
  ASSERT_TRUE(mem->WriteObj<uint64_t>(0x1ff8, 0x1122334455667788ull));
  auto v = mem->ReadObj<uint64_t>(0x1ff8);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 0x1122334455667788ull);
  EXPECT_FALSE(mem->WriteObj<uint64_t>(0x1ffc, 1));
  EXPECT_FALSE(mem->ReadObj<uint32_t>(0x1ffe));
}

TEST(GuestMemoryTest, RejectsOverlappingSpecs) {
  EXPECT_FALSE(GuestMemory::CreateAnonymous({{0, 0x2000}, {0x1000, 0x1000}}));
  EXPECT_FALSE(GuestMemory::CreateAnonymous({{0, 0}}));
}

TEST(GuestMemoryTest, ViewDoesNotOwn) {
  std::array<uint8_t, 64> buf{};
  {
    GuestMemory v = GuestMemory::View(buf.data(), buf.size());
    ASSERT_TRUE(v.WriteObj<uint8_t>(63, 7));
  }
  EXPECT_EQ(buf[63], 7);
}

}  // namespace
}  // namespace uvm
