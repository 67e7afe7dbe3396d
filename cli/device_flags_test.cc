#include "cli/device_flags.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

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

TEST(DeviceFlagsTest, ShareDirTagAndReadOnly) {
  auto s = ParseShareFlag("/tmp,tag=data");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->tag, "data");
  EXPECT_EQ(s->config.host_dir, "/tmp");
  EXPECT_FALSE(s->config.read_only);
  s = ParseShareFlag("/tmp/../tmp/,ro,tag=x");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s->config.read_only);
  EXPECT_EQ(s->config.host_dir, "/tmp/");
  for (const char* bad :
       {"", "/tmp", "/tmp,tag=", "/tmp,tag=a b", "/tmp,tag=a,tag=b", "/tmp,tag=a,exec",
        "/nonexistent-dir,tag=a", "/etc/passwd,tag=a", ",tag=a"}) {
    EXPECT_FALSE(ParseShareFlag(bad)) << bad;
  }
  auto twice = ParseShareFlags({"/tmp,tag=a", "/,tag=a"});
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("given twice"), std::string::npos);
  auto missing = ParseShareFlag("/nonexistent-dir,tag=a");
  EXPECT_NE(missing.error().message.find("/nonexistent-dir"), std::string::npos);
}

TEST(DeviceFlagsTest, VolumesInDockersSyntax) {
  char tmpl[] = "/tmp/uvm-volume-flag-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  auto v = ParseVolumeFlag(dir + ":/data");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->host_dir, dir);
  EXPECT_EQ(v->target, "/data");
  EXPECT_FALSE(v->read_only);
  v = ParseVolumeFlag(dir + "/made/here:/x:ro");  // a missing HOSTDIR is made, as docker does
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_TRUE(v->read_only);
  EXPECT_EQ(v->host_dir, dir + "/made/here");
  EXPECT_TRUE(ParseVolumeFlag(dir + ":/x:rw"));
  const std::string file = dir + "/file";
  ASSERT_EQ(system(("touch '" + file + "'").c_str()), 0);
  for (const std::string& bad : {dir, dir + ":", dir + ":x", dir + ":/", dir + ":/x:rx",
                                 std::string("named:/x"), file + ":/x"}) {
    EXPECT_FALSE(ParseVolumeFlag(bad)) << bad;
  }
  EXPECT_EQ(ParseVolumeFlag("named:/x").error().code, ErrorCode::kUnsupported);
  EXPECT_NE(ParseVolumeFlag(file + ":/x").error().message.find("not a directory"),
            std::string::npos);
  ASSERT_EQ(system(("rm -rf '" + dir + "'").c_str()), 0);
}

}  // namespace
}  // namespace uvm::cli
