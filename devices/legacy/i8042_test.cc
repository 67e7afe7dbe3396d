#include "devices/legacy/i8042.h"

#include <gtest/gtest.h>

namespace uvm::devices {
namespace {

TEST(I8042Test, ResetCommandOnCommandPortRequestsReset) {
  int resets = 0;
  I8042 dev([&] { ++resets; });
  uint8_t status = 0xff;
  dev.Read(4, {&status, 1});
  EXPECT_EQ(status & 0x02, 0);  // input buffer empty, so Linux's kb_wait() ends
  uint8_t cmd = 0xfe;
  dev.Write(0, {&cmd, 1});  // on the data port: not a reset
  EXPECT_EQ(resets, 0);
  dev.Write(4, {&cmd, 1});
  EXPECT_EQ(resets, 1);
  uint8_t other = 0xd1;
  dev.Write(4, {&other, 1});
  EXPECT_EQ(resets, 1);
}

TEST(DebugExitTest, ByteWrittenIsTheExitStatus) {
  int status = -1;
  DebugExit dev([&](uint8_t s) { status = s; });
  uint8_t v = 42;
  dev.Write(0, {&v, 1});
  EXPECT_EQ(status, 42);
}

}  // namespace
}  // namespace uvm::devices
