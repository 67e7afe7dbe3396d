#include "boot/kernel_loader.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "boot/layout.h"
#include "boot/test_images.h"

namespace uvm::boot {
namespace {

using testing::DefaultBzHeader;
using testing::ElfSegmentSpec;
using testing::MakeBzImage;
using testing::MakeElf;

constexpr uint64_t kMemSize = 64ull << 20;
constexpr uint64_t kText = 0x1000000;
constexpr uint64_t kTextVirt = 0xffffffff81000000ull;
constexpr uint64_t kData = 0x1200000;

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 13);
  return v;
}

// Text (0x300 file bytes) and data (0x80 file bytes followed by 0xf80 bytes of bss).
std::vector<uint8_t> GoodElf(uint64_t entry = kText) {
  return MakeElf({{kText, kTextVirt, Pattern(0x300, 1), 0x300},
                  {kData, kTextVirt + (kData - kText), Pattern(0x80, 2), 0x1000}},
                 entry);
}

class KernelLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = GuestMemory::CreateAnonymous({{0, kMemSize}});
    ASSERT_TRUE(m) << m.error().message;
    mem_.emplace(std::move(*m));
  }
  std::string ElfError(const std::vector<uint8_t>& f) {
    auto r = LoadElfKernel(*mem_, f);
    EXPECT_FALSE(r) << "loaded a bad ELF";
    return r ? "" : r.error().message;
  }
  std::string BzError(const std::vector<uint8_t>& f) {
    auto r = LoadBzImage(*mem_, f);
    EXPECT_FALSE(r) << "loaded a bad bzImage";
    return r ? "" : r.error().message;
  }
  std::optional<GuestMemory> mem_;
};

TEST_F(KernelLoaderTest, ElfLoadsSegmentsAtPaddrAndZeroFillsBss) {
  // Dirty the bss first so the test proves the loader zeroes it.
  std::memset(mem_->HostPtr(kData, 0x1000), 0xcc, 0x1000);
  const auto file = GoodElf();
  auto k = LoadKernel(*mem_, file);
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_FALSE(k->is_bzimage);
  EXPECT_EQ(k->entry, kText);
  EXPECT_EQ(k->image_start, kText);
  EXPECT_EQ(k->image_end, kData + 0x1000);
  EXPECT_EQ(std::memcmp(mem_->HostPtr(kText, 0x300), Pattern(0x300, 1).data(), 0x300), 0);
  EXPECT_EQ(std::memcmp(mem_->HostPtr(kData, 0x80), Pattern(0x80, 2).data(), 0x80), 0);
  const uint8_t* bss = mem_->HostPtr(kData + 0x80, 0x1000 - 0x80);
  for (size_t i = 0; i < 0x1000 - 0x80; ++i) ASSERT_EQ(bss[i], 0) << "bss byte " << i;
  const SetupHeader zero{};
  EXPECT_EQ(std::memcmp(&k->header, &zero, sizeof zero), 0);
}

TEST_F(KernelLoaderTest, ElfVirtualEntryIsTranslatedToPhysical) {
  auto k = LoadElfKernel(*mem_, GoodElf(kTextVirt + 0x40));
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->entry, kText + 0x40);
}

TEST_F(KernelLoaderTest, ElfEntryOutsideSegmentsRefused) {
  EXPECT_NE(ElfError(GoodElf(0x5000000)).find("entry point"), std::string::npos);
}

TEST_F(KernelLoaderTest, ElfTruncatedHeaderRefused) {
  auto f = GoodElf();
  f.resize(40);
  EXPECT_NE(ElfError(f).find("truncated"), std::string::npos);
  // LoadKernel routes it to the ELF loader by its magic and reports the same problem.
  EXPECT_FALSE(LoadKernel(*mem_, f));
}

TEST_F(KernelLoaderTest, ElfProgramHeadersPastEndRefused) {
  auto f = GoodElf();
  auto eh = testing::GetEhdr(f);
  eh.e_phoff = f.size() - 8;
  testing::SetEhdr(f, eh);
  EXPECT_FALSE(ElfError(f).empty());
  eh.e_phoff = ~0ull - 16;  // offset + size would wrap
  testing::SetEhdr(f, eh);
  EXPECT_FALSE(ElfError(f).empty());
}

TEST_F(KernelLoaderTest, ElfSegmentDataPastEndRefused) {
  auto f = GoodElf();
  auto ph = testing::GetPhdr(f, 1);
  ph.p_offset = f.size() - 0x10;  // 0x80 bytes from 0x10 before the end
  testing::SetPhdr(f, 1, ph);
  EXPECT_NE(ElfError(f).find("past the end of the file"), std::string::npos);
  ph.p_offset = ~0ull - 4;  // offset + filesz wraps around
  testing::SetPhdr(f, 1, ph);
  EXPECT_NE(ElfError(f).find("past the end of the file"), std::string::npos);
}

TEST_F(KernelLoaderTest, ElfSegmentOutsideGuestRamRefused) {
  auto f =
      MakeElf({{kMemSize - 0x100, kMemSize - 0x100, Pattern(0x10, 0), 0x1000}}, kMemSize - 0x100);
  EXPECT_NE(ElfError(f).find("outside guest RAM"), std::string::npos);
  auto huge = MakeElf({{kText, kText, Pattern(0x10, 0), ~0ull - 0x100}}, kText);
  EXPECT_NE(ElfError(huge).find("outside guest RAM"), std::string::npos);
  auto low = MakeElf({{0x7000, 0x7000, Pattern(0x10, 0), 0x10}}, 0x7000);
  EXPECT_NE(ElfError(low).find("below 1 MiB"), std::string::npos);
}

TEST_F(KernelLoaderTest, ElfWrongClassMachineOrTypeRefused) {
  auto f = GoodElf();
  f[EI_CLASS] = ELFCLASS32;
  EXPECT_NE(ElfError(f).find("64-bit"), std::string::npos);

  f = GoodElf();
  auto eh = testing::GetEhdr(f);
  eh.e_machine = EM_386;
  testing::SetEhdr(f, eh);
  EXPECT_NE(ElfError(f).find("x86-64"), std::string::npos);

  eh.e_machine = EM_X86_64;
  eh.e_type = ET_DYN;
  testing::SetEhdr(f, eh);
  EXPECT_NE(ElfError(f).find("ET_EXEC"), std::string::npos);
}

TEST_F(KernelLoaderTest, ElfFileszLargerThanMemszRefused) {
  auto f = GoodElf();
  auto ph = testing::GetPhdr(f, 0);
  ph.p_memsz = ph.p_filesz - 1;
  testing::SetPhdr(f, 0, ph);
  EXPECT_NE(ElfError(f).find("p_filesz > p_memsz"), std::string::npos);
}

TEST_F(KernelLoaderTest, ElfWithoutLoadSegmentsRefused) {
  auto f = GoodElf();
  for (size_t i = 0; i < 2; ++i) {
    auto ph = testing::GetPhdr(f, i);
    ph.p_type = PT_NOTE;
    testing::SetPhdr(f, i, ph);
  }
  EXPECT_NE(ElfError(f).find("no loadable"), std::string::npos);
}

TEST_F(KernelLoaderTest, UnknownFormatRefused) {
  std::vector<uint8_t> junk(4096, 0x90);
  auto r = LoadKernel(*mem_, junk);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "kernel image: not an ELF vmlinux or a bzImage");
  EXPECT_FALSE(LoadKernel(*mem_, {}));
}

TEST_F(KernelLoaderTest, BzImageLoadsAtOneMiBWithEntryAt0x200) {
  const uint32_t payload = 0x4000;
  const auto file = MakeBzImage(DefaultBzHeader(payload), payload);
  auto k = LoadKernel(*mem_, file);
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_TRUE(k->is_bzimage);
  EXPECT_EQ(k->image_start, kHighMemStart);
  EXPECT_EQ(k->entry, kHighMemStart + 0x200);
  // Decompression runs at max(align_up(1 MiB, 2 MiB), pref_address 16 MiB) for init_size 8 MiB.
  EXPECT_EQ(k->image_end, 0x1000000u + 0x800000u);
  EXPECT_EQ(std::memcmp(mem_->HostPtr(kHighMemStart, payload), file.data() + 5 * 512, payload), 0);
  EXPECT_EQ(uint16_t{k->header.version}, 0x020f);
  EXPECT_EQ(uint32_t{k->header.cmdline_size}, 2047u);
  EXPECT_EQ(uint32_t{k->header.initrd_addr_max}, 0x7fffffffu);
}

TEST_F(KernelLoaderTest, BzImageSetupSectsZeroMeansFour) {
  auto h = DefaultBzHeader(0x1000);
  h.setup_sects = 0;
  const auto file = MakeBzImage(h, 0x1000);
  auto k = LoadBzImage(*mem_, file);
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(std::memcmp(mem_->HostPtr(kHighMemStart, 0x1000), file.data() + 5 * 512, 0x1000), 0);
}

TEST_F(KernelLoaderTest, BzImageNonRelocatableLoadsAtPrefAddress) {
  auto h = DefaultBzHeader(0x1000);
  h.relocatable_kernel = 0;
  h.pref_address = 0x2000000;
  auto k = LoadBzImage(*mem_, MakeBzImage(h, 0x1000));
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->image_start, 0x2000000u);
  EXPECT_EQ(k->entry, 0x2000200u);
  EXPECT_EQ(k->image_end, 0x2000000u + 0x800000u);

  h.pref_address = ~0ull;  // hostile: must fail cleanly, not wrap
  EXPECT_FALSE(BzError(MakeBzImage(h, 0x1000)).empty());
  h.pref_address = 0x8000;  // would clobber the boot data
  EXPECT_NE(BzError(MakeBzImage(h, 0x1000)).find("below 1 MiB"), std::string::npos);
}

TEST_F(KernelLoaderTest, BzImageBadMagicRefused) {
  auto h = DefaultBzHeader(0x1000);
  h.header = 0x58726448;  // "HdrX"
  const auto file = MakeBzImage(h, 0x1000);
  EXPECT_NE(BzError(file).find("HdrS"), std::string::npos);
  auto r = LoadKernel(*mem_, file);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "kernel image: not an ELF vmlinux or a bzImage");

  h = DefaultBzHeader(0x1000);
  h.boot_flag = 0x1234;
  EXPECT_NE(BzError(MakeBzImage(h, 0x1000)).find("0xAA55"), std::string::npos);
}

TEST_F(KernelLoaderTest, BzImageOldProtocolRefused) {
  auto h = DefaultBzHeader(0x1000);
  h.version = 0x020b;
  EXPECT_NE(BzError(MakeBzImage(h, 0x1000)).find("2.11 is too old"), std::string::npos);
}

TEST_F(KernelLoaderTest, BzImageWithout64BitEntryRefused) {
  auto h = DefaultBzHeader(0x1000);
  h.xloadflags = kXlfCanBeLoadedAbove4G;
  EXPECT_NE(BzError(MakeBzImage(h, 0x1000)).find("XLF_KERNEL_64"), std::string::npos);
}

TEST_F(KernelLoaderTest, BzImageHeaderFieldsPastDeclaredEndAreNotTrusted) {
  // Header ends at 0x202 + 0x30 = 0x232, before xloadflags (0x236): the flag set in the file's
  // bytes there must be ignored.
  auto h = DefaultBzHeader(0x1000);
  h.jump = 0xeb | (0x30 << 8);
  EXPECT_NE(BzError(MakeBzImage(h, 0x1000)).find("XLF_KERNEL_64"), std::string::npos);
}

TEST_F(KernelLoaderTest, BzImageSetupPastEndOfFileRefused) {
  auto h = DefaultBzHeader(0x1000);
  auto file = MakeBzImage(h, 0x1000);
  h.setup_sects = 200;  // 201 * 512 bytes of setup in a 6.5 KiB file
  std::memcpy(file.data() + kSetupHeaderOffset, &h, sizeof h);
  EXPECT_NE(BzError(file).find("past the end of the file"), std::string::npos);
}

TEST_F(KernelLoaderTest, BzImageTruncatedPayloadRefused) {
  auto file = MakeBzImage(DefaultBzHeader(0x1000), 0x1000);
  file.resize(file.size() - 16);
  EXPECT_NE(BzError(file).find("truncated"), std::string::npos);
  file.resize(kSetupHeaderOffset + 8);  // not even a whole header
  EXPECT_FALSE(BzError(file).empty());
  EXPECT_FALSE(LoadKernel(*mem_, file));
}

TEST_F(KernelLoaderTest, BzImageTooBigForGuestRefused) {
  auto h = DefaultBzHeader(0x1000);
  h.init_size = 0x7f000000;
  EXPECT_NE(BzError(MakeBzImage(h, 0x1000)).find("raise --memory"), std::string::npos);
}

// Loads a real kernel when one has been built; synthetic images above are the main coverage.
TEST(RealKernelTest, LoadsBuiltImages) {
  const char* env = std::getenv("UVM_IMAGES_DIR");
  const std::filesystem::path dir =
      env ? std::filesystem::path(env) : std::filesystem::path(UVM_REPO_DIR) / "build/images";
  auto mem = GuestMemory::CreateAnonymous(RamRegions(512ull << 20));
  ASSERT_TRUE(mem) << mem.error().message;
  int loaded = 0;
  for (const char* name : {"vmlinux", "bzImage"}) {
    std::ifstream in(dir / name, std::ios::binary | std::ios::ate);
    if (!in) continue;
    std::vector<uint8_t> file(static_cast<size_t>(in.tellg()));
    in.seekg(0);
    ASSERT_TRUE(in.read(reinterpret_cast<char*>(file.data()), file.size())) << name;
    auto k = LoadKernel(*mem, file);
    ASSERT_TRUE(k) << name << ": " << k.error().message;
    EXPECT_EQ(k->is_bzimage, std::string(name) == "bzImage");
    EXPECT_GE(k->image_start, kHighMemStart);
    EXPECT_GT(k->image_end, k->entry);
    EXPECT_GE(k->entry, k->image_start);
    ++loaded;
  }
  if (loaded == 0) GTEST_SKIP() << "no kernel built at " << dir << "/{vmlinux,bzImage}";
}

}  // namespace
}  // namespace uvm::boot
