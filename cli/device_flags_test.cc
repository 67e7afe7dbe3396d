#include "cli/device_flags.h"

#include <gtest/gtest.h>

namespace uvm::cli {
namespace {

namespace net = devices::virtio::net;

TEST(DeviceFlagsTest, DiskPathAndOptions) {
  auto rw = ParseDiskFlag("/img/a.raw");
  ASSERT_TRUE(rw);
  EXPECT_EQ(rw->path, "/img/a.raw");
  EXPECT_FALSE(rw->read_only);
  auto ro = ParseDiskFlag("/img/a.raw,ro");
  ASSERT_TRUE(ro);
  EXPECT_EQ(ro->path, "/img/a.raw");
  EXPECT_TRUE(ro->read_only);
  auto explicit_rw = ParseDiskFlag("a,rw");
  ASSERT_TRUE(explicit_rw);
  EXPECT_FALSE(explicit_rw->read_only);
  EXPECT_FALSE(ParseDiskFlag("a,readonly"));
  EXPECT_FALSE(ParseDiskFlag(",ro"));
  EXPECT_FALSE(ParseDiskFlag(""));
}

TEST(DeviceFlagsTest, NetTapAndMac) {
  auto s = ParseNetFlag("tap0");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->tap, "tap0");
  EXPECT_EQ(s->mac, net::DefaultMac("tap0"));
  s = ParseNetFlag("tap0,mac=52:54:00:12:34:56");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(net::FormatMac(s->mac), "52:54:00:12:34:56");
  for (const char* bad : {"", ",mac=52:54:00:12:34:56", "tap0,", "tap0,mac=zz", "tap0,speed=10",
                          "tap0,mac=52:54:00:12:34:56,mac=52:54:00:12:34:57", "a/b",
                          "sixteen-chars-xx", "..", "ta p"}) {
    EXPECT_FALSE(ParseNetFlag(bad)) << bad;
  }
}

}  // namespace
}  // namespace uvm::cli
