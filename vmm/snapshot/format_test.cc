#include "vmm/snapshot/format.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace uvm::vmm::snapshot {
namespace {

std::vector<uint8_t> Sample() {
  return EncodeStateFile({{SectionId::kMachine, 1, {1, 2, 3}},
                          {SectionId::kVcpu, 1, {4, 5}},
                          {SectionId::kVcpu, 1, {}}});
}

// Rewrites the trailing CRC so a test reaches the check after it.
void Recrc(std::vector<uint8_t>& f) {
  uint32_t crc = Crc32(std::span(f).first(f.size() - 4));
  std::memcpy(f.data() + f.size() - 4, &crc, 4);
}

std::string DecodeError(const std::vector<uint8_t>& f) {
  auto r = DecodeStateFile(f);
  return r ? "" : r.error().message;
}

TEST(SnapshotFormat, RoundTrip) {
  auto f = Sample();
  auto r = DecodeStateFile(f);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].id, SectionId::kMachine);
  EXPECT_EQ(std::vector<uint8_t>((*r)[0].payload.begin(), (*r)[0].payload.end()),
            (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ((*r)[1].payload.size(), 2u);
  EXPECT_EQ((*r)[2].payload.size(), 0u);
}

TEST(SnapshotFormat, Crc32IsZlibs) {
  const std::string s = "123456789";
  EXPECT_EQ(Crc32(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size())), 0xcbf43926u);
}

TEST(SnapshotFormat, RefusesBadMagic) {
  auto f = Sample();
  f[0] = 'X';
  EXPECT_NE(DecodeError(f).find("bad magic"), std::string::npos);
}

TEST(SnapshotFormat, RefusesWrongVersionEvenWithAValidCrc) {
  auto f = Sample();
  f[8] = 2;
  Recrc(f);
  EXPECT_NE(DecodeError(f).find("format version 2 is not supported"), std::string::npos);
}

TEST(SnapshotFormat, RefusesEveryFlippedBit) {
  auto good = Sample();
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto f = good;
      f[i] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_FALSE(DecodeStateFile(f)) << "byte " << i << " bit " << bit;
    }
  }
  auto f = good;
  f[20] ^= 1;  // inside the first section header
  EXPECT_NE(DecodeError(f).find("CRC mismatch"), std::string::npos);
}

TEST(SnapshotFormat, RefusesEveryTruncation) {
  auto good = Sample();
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> f(good.begin(), good.begin() + static_cast<long>(n));
    EXPECT_FALSE(DecodeStateFile(f)) << n;
  }
  std::vector<uint8_t> f(good.begin(), good.begin() + 10);
  EXPECT_NE(DecodeError(f).find("truncated"), std::string::npos);
}

TEST(SnapshotFormat, RefusesUnknownSectionId) {
  auto f = EncodeStateFile({{static_cast<SectionId>(0x102), 1, {}}});
  EXPECT_NE(DecodeError(f).find("unknown section id 0x102"), std::string::npos);
}

TEST(SnapshotFormat, RefusesUnknownSectionVersion) {
  auto f = EncodeStateFile({{SectionId::kPit, 7, {}}});
  EXPECT_NE(DecodeError(f).find("pit section version 7"), std::string::npos);
}

TEST(SnapshotFormat, RefusesRepeatedSingletonSection) {
  auto f = EncodeStateFile({{SectionId::kClock, 1, {}}, {SectionId::kClock, 1, {}}});
  EXPECT_NE(DecodeError(f).find("repeated clock"), std::string::npos);
  f = EncodeStateFile({{SectionId::kSerial, 1, {}}, {SectionId::kSerial, 1, {}}});
  EXPECT_NE(DecodeError(f).find("repeated serial"), std::string::npos);
  // One virtio-mmio section per slot.
  f = EncodeStateFile({{SectionId::kVirtioMmio, 1, {}}, {SectionId::kVirtioMmio, 1, {}}});
  EXPECT_EQ(DecodeError(f), "");
}

TEST(SnapshotFormat, RefusesSectionOverrunningTheFile) {
  auto f = EncodeStateFile({{SectionId::kClock, 1, {1, 2, 3, 4}}});
  f[16 + 8] = 200;  // length low byte
  Recrc(f);
  EXPECT_NE(DecodeError(f).find("overruns"), std::string::npos);
}

TEST(SnapshotFormat, RefusesHugeSectionLength) {
  auto f = EncodeStateFile({{SectionId::kClock, 1, {1, 2, 3, 4}}});
  f[16 + 15] = 0x80;  // length high byte: 2^63 + 4
  Recrc(f);
  EXPECT_NE(DecodeError(f).find("overruns"), std::string::npos);
}

TEST(SnapshotFormat, RefusesTooManySections) {
  auto f = Sample();
  f[12] = 0;
  f[13] = 1;
  f[14] = 1;  // 0x10100 sections
  Recrc(f);
  EXPECT_NE(DecodeError(f).find("sections"), std::string::npos);
}

TEST(SnapshotFormat, RefusesBytesAfterTheLastSection) {
  auto f = Sample();
  f[12] = 2;  // says two sections, three follow
  Recrc(f);
  EXPECT_NE(DecodeError(f).find("trailing"), std::string::npos);
}

TEST(SnapshotFormat, RefusesOversizedFile) {
  std::vector<uint8_t> f(kMaxStateBytes + 1, 0);
  EXPECT_NE(DecodeError(f).find("larger"), std::string::npos);
}

}  // namespace
}  // namespace uvm::vmm::snapshot
