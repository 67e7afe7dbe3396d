#include "devices/bus.h"

#include <gtest/gtest.h>

namespace uvm::devices {
namespace {

class RecordingDevice : public BusDevice {
 public:
  void Read(uint64_t offset, std::span<uint8_t> data) override {
    for (auto& b : data) b = static_cast<uint8_t>(0xa0 + offset);
    last_read = offset;
  }
  void Write(uint64_t offset, std::span<const uint8_t> data) override {
    last_write = offset;
    last_value = data[0];
  }
  uint64_t last_read = ~0ull, last_write = ~0ull;
  uint8_t last_value = 0;
};

TEST(BusTest, DispatchesByRangeWithRelativeOffsets) {
  auto a = std::make_shared<RecordingDevice>();
  auto b = std::make_shared<RecordingDevice>();
  Bus::Builder builder;
  ASSERT_TRUE(builder.Add(0x3f8, 8, a, "serial"));
  ASSERT_TRUE(builder.Add(0x60, 1, b, "i8042-data"));
  Bus bus = std::move(builder).Build();
  uint8_t v = 0;
  EXPECT_TRUE(bus.Read(0x3fd, {&v, 1}));
  EXPECT_EQ(a->last_read, 5u);
  EXPECT_EQ(v, 0xa5);
  uint8_t w = 0x42;
  EXPECT_TRUE(bus.Write(0x60, {&w, 1}));
  EXPECT_EQ(b->last_write, 0u);
  EXPECT_EQ(b->last_value, 0x42);
}

TEST(BusTest, UnclaimedAndStraddlingAccessesAreNotDispatched) {
  auto a = std::make_shared<RecordingDevice>();
  Bus::Builder builder;
  ASSERT_TRUE(builder.Add(0x1000, 0x10, a, "dev"));
  Bus bus = std::move(builder).Build();
  uint8_t buf[4] = {};
  EXPECT_FALSE(bus.Read(0xfff, {buf, 1}));
  EXPECT_FALSE(bus.Read(0x100e, {buf, 4}));  // runs past the end of the range
  EXPECT_FALSE(bus.Read(0x1010, {buf, 1}));
  EXPECT_FALSE(bus.Read(~0ull, {buf, 4}));
  EXPECT_TRUE(bus.Read(0x100c, {buf, 4}));
}

TEST(BusTest, RejectsOverlapAndEmptyRanges) {
  Bus::Builder builder;
  auto d = std::make_shared<RecordingDevice>();
  ASSERT_TRUE(builder.Add(0x100, 0x10, d, "a"));
  EXPECT_FALSE(builder.Add(0x10f, 1, d, "b"));
  EXPECT_FALSE(builder.Add(0xf0, 0x11, d, "c"));
  EXPECT_FALSE(builder.Add(0x200, 0, d, "d"));
  EXPECT_FALSE(builder.Add(~0ull - 1, 4, d, "e"));
  EXPECT_TRUE(builder.Add(0x110, 1, d, "f"));
}

}  // namespace
}  // namespace uvm::devices
