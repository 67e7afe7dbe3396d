#include "boot/boot_params.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "boot/layout.h"
#include "boot/test_images.h"

namespace uvm::boot {
namespace {

constexpr uint64_t kMemSize = 64ull << 20;

void ExpectEntry(const E820Entry& e, uint64_t addr, uint64_t size, uint32_t type) {
  const E820Entry copy = e;  // packed: copy before binding gtest's references to fields
  EXPECT_EQ(copy.addr, addr);
  EXPECT_EQ(copy.size, size);
  EXPECT_EQ(copy.type, type);
}

TEST(E820Test, SmallGuest) {
  const auto map = BuildE820(RamRegions(128ull << 20));
  ASSERT_EQ(map.size(), 2u);
  ExpectEntry(map[0], 0, kEbdaStart, kE820Ram);
  ExpectEntry(map[1], kHighMemStart, (128ull << 20) - kHighMemStart, kE820Ram);
}

TEST(E820Test, FourGiBGuestHasRamAbove4GiB) {
  const auto map = BuildE820(RamRegions(4ull << 30));
  ASSERT_EQ(map.size(), 3u);
  ExpectEntry(map[0], 0, kEbdaStart, kE820Ram);
  ExpectEntry(map[1], kHighMemStart, kMmioGapStart - kHighMemStart, kE820Ram);
  ExpectEntry(map[2], kMmioGapEnd, (4ull << 30) - kMmioGapStart, kE820Ram);
}

TEST(CmdlineTest, LengthLimitAndNul) {
  EXPECT_TRUE(CheckCmdline(std::string(kCmdlineMax - 1, 'a')));
  auto r = CheckCmdline(std::string(kCmdlineMax, 'a'));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("2047"), std::string::npos) << r.error().message;
  EXPECT_FALSE(CheckCmdline(std::string("console=ttyS0\0 quiet", 21)));
  EXPECT_TRUE(CheckCmdline(""));
}

TEST(CmdlineTest, WrittenNulTerminated) {
  auto mem = GuestMemory::CreateAnonymous({{0, 1 << 20}});
  ASSERT_TRUE(mem);
  std::memset(mem->HostPtr(kCmdlineAddr, 64), 'x', 64);
  ASSERT_TRUE(WriteCmdline(*mem, "console=ttyS0"));
  EXPECT_STREQ(reinterpret_cast<const char*>(mem->HostPtr(kCmdlineAddr, 14)), "console=ttyS0");
  EXPECT_FALSE(WriteCmdline(*mem, std::string(kCmdlineMax, 'a')));
}

class BootParamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = GuestMemory::CreateAnonymous({{0, kMemSize}});
    ASSERT_TRUE(m) << m.error().message;
    mem_.emplace(std::move(*m));
  }
  static LoadedKernel Vmlinux(uint64_t end) {
    LoadedKernel k{};
    k.entry = k.image_start = 0x1000000;
    k.image_end = end;
    return k;
  }
  static LoadedKernel BzImage() {
    LoadedKernel k{};
    k.is_bzimage = true;
    k.header = testing::DefaultBzHeader(0x1000);
    k.entry = kHighMemStart + 0x200;
    k.image_start = kHighMemStart;
    k.image_end = 0x1800000;
    return k;
  }
  template <class T>
  T At(uint64_t offset) {
    auto v = mem_->ReadObj<T>(kZeroPageAddr + offset);
    EXPECT_TRUE(v);
    return v ? *v : T{};
  }
  std::optional<GuestMemory> mem_;
};

TEST_F(BootParamsTest, InitrdGoesHighAndPageAligned) {
  std::vector<uint8_t> initrd(5000, 0xab);
  auto p = PlaceInitrd(*mem_, Vmlinux(0x2000000), initrd);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->size, 5000u);
  EXPECT_EQ(p->addr % 4096, 0u);
  EXPECT_LE(p->addr + p->size, kMemSize);
  EXPECT_GT(p->addr + 4096 + p->size, kMemSize);  // no higher page-aligned slot exists
  EXPECT_EQ(std::memcmp(mem_->HostPtr(p->addr, initrd.size()), initrd.data(), initrd.size()), 0);
}

TEST_F(BootParamsTest, InitrdRespectsInitrdAddrMax) {
  auto k = BzImage();
  k.header.initrd_addr_max = 0x37fffff;  // highest usable byte: just below 56 MiB
  std::vector<uint8_t> initrd(1 << 20, 1);
  auto p = PlaceInitrd(*mem_, k, initrd);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->addr, 0x3800000u - (1u << 20));
}

TEST_F(BootParamsTest, InitrdTooBigOrOverlappingKernelRefused) {
  std::vector<uint8_t> big(100 << 20);
  auto r = PlaceInitrd(*mem_, Vmlinux(0x2000000), big);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("initrd (100 MiB) does not fit"), std::string::npos);
  EXPECT_NE(r.error().message.find("raise --memory"), std::string::npos);

  // 3 MiB cannot sit between a kernel ending at 62 MiB and the 64 MiB end of RAM.
  std::vector<uint8_t> mid(3 << 20);
  EXPECT_FALSE(PlaceInitrd(*mem_, Vmlinux(0x3e00000), mid));
  EXPECT_TRUE(PlaceInitrd(*mem_, Vmlinux(0x3d00000), mid));
  EXPECT_FALSE(PlaceInitrd(*mem_, Vmlinux(0x2000000), {}));
}

TEST_F(BootParamsTest, BzImageFieldsLandAtProtocolOffsets) {
  const auto e820 = BuildE820({{0, kMemSize}});
  ASSERT_TRUE(WriteBootParams(*mem_, BzImage(), InitrdPlacement{0x3f00000, 0x123456}, 13, e820));
  EXPECT_EQ(At<uint8_t>(0x1e8), 2);             // e820_entries
  EXPECT_EQ(At<uint8_t>(0x1f1), 4);             // setup_sects from the file
  EXPECT_EQ(At<uint16_t>(0x1fe), 0xaa55);       // boot_flag
  EXPECT_EQ(At<uint32_t>(0x202), 0x53726448u);  // "HdrS"
  EXPECT_EQ(At<uint16_t>(0x206), 0x020f);       // version
  EXPECT_EQ(At<uint8_t>(0x210), 0xff);          // type_of_loader
  EXPECT_EQ(At<uint8_t>(0x211), kLoadedHigh | kCanUseHeap);
  EXPECT_EQ(At<uint32_t>(0x218), 0x3f00000u);    // ramdisk_image
  EXPECT_EQ(At<uint32_t>(0x21c), 0x123456u);     // ramdisk_size
  EXPECT_EQ(At<uint16_t>(0x224), 0xde00);        // heap_end_ptr
  EXPECT_EQ(At<uint32_t>(0x228), kCmdlineAddr);  // cmd_line_ptr
  EXPECT_EQ(At<uint16_t>(0x236), kXlfKernel64 | kXlfCanBeLoadedAbove4G);
  EXPECT_EQ(At<uint32_t>(0x0c0), 0u);             // ext_ramdisk_image
  EXPECT_EQ(At<uint32_t>(0x0c8), 0u);             // ext_cmd_line_ptr
  EXPECT_EQ(At<uint8_t>(0x1ef), 0);               // sentinel stays clear
  EXPECT_EQ(At<uint64_t>(0x2d0), 0u);             // e820_table[0].addr
  EXPECT_EQ(At<uint64_t>(0x2d8), kEbdaStart);     // e820_table[0].size
  EXPECT_EQ(At<uint32_t>(0x2e0), kE820Ram);       // e820_table[0].type
  EXPECT_EQ(At<uint64_t>(0x2e4), kHighMemStart);  // e820_table[1].addr
  EXPECT_EQ(At<uint64_t>(0x2e4 + 20), 0u);        // no third entry
}

TEST_F(BootParamsTest, HighInitrdUsesExtFields) {
  ASSERT_TRUE(
      WriteBootParams(*mem_, BzImage(), InitrdPlacement{0x123456000ull, 0x100001000ull}, 0, {}));
  EXPECT_EQ(At<uint32_t>(0x218), 0x23456000u);
  EXPECT_EQ(At<uint32_t>(0x0c0), 1u);
  EXPECT_EQ(At<uint32_t>(0x21c), 0x1000u);
  EXPECT_EQ(At<uint32_t>(0x0c4), 1u);
}

TEST_F(BootParamsTest, VmlinuxGetsAFreshHeader) {
  std::memset(mem_->HostPtr(kZeroPageAddr, 4096), 0x5a, 4096);  // stale bytes must be cleared
  ASSERT_TRUE(WriteBootParams(*mem_, Vmlinux(0x2000000), std::nullopt, 0, {}));
  EXPECT_EQ(At<uint16_t>(0x1fe), 0xaa55);
  EXPECT_EQ(At<uint32_t>(0x202), 0x53726448u);
  EXPECT_EQ(At<uint16_t>(0x206), 0x020f);
  EXPECT_EQ(At<uint8_t>(0x210), 0xff);
  EXPECT_EQ(At<uint32_t>(0x218), 0u);
  EXPECT_EQ(At<uint8_t>(0x1e8), 0);
  EXPECT_EQ(At<uint8_t>(0x1ef), 0);
}

TEST_F(BootParamsTest, TooManyE820EntriesOrTooLongCmdlineRefused) {
  std::vector<E820Entry> many(kE820MaxEntries + 1, E820Entry{0, 4096, kE820Ram});
  EXPECT_FALSE(WriteBootParams(*mem_, Vmlinux(0x2000000), std::nullopt, 0, many));
  many.pop_back();
  EXPECT_TRUE(WriteBootParams(*mem_, Vmlinux(0x2000000), std::nullopt, 0, many));
  EXPECT_FALSE(WriteBootParams(*mem_, Vmlinux(0x2000000), std::nullopt, kCmdlineMax, {}));
  auto k = BzImage();
  k.header.cmdline_size = 255;
  auto r = WriteBootParams(*mem_, k, std::nullopt, 256, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("at most 255"), std::string::npos);
}

}  // namespace
}  // namespace uvm::boot
