#include "store/source.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "store/testing/tar_builder.h"

namespace uvm::store {
namespace {

class SourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvm-source-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(testing::WriteFile(dir_ + "/rootfs.tar", "x"));
    ASSERT_EQ(::mkdir((dir_ + "/layout").c_str(), 0755), 0);
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(dir_)); }
  std::string dir_;
};

TEST_F(SourceTest, Prefixes) {
  auto s = ParseSource("oci:" + dir_ + "/layout");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->kind, SourceKind::kOciLayout);
  EXPECT_EQ(s->path, dir_ + "/layout");
  EXPECT_EQ(s->ref, "");
  s = ParseSource("oci-archive:" + dir_ + "/rootfs.tar");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, SourceKind::kOciArchive);
  s = ParseSource("docker-archive:" + dir_ + "/rootfs.tar");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, SourceKind::kDockerArchive);
}

TEST_F(SourceTest, RefIsSplitOffOnlyWhenThePathDoesNotExist) {
  auto s = ParseSource("oci:" + dir_ + "/layout:v1");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->path, dir_ + "/layout");
  EXPECT_EQ(s->ref, "v1");
  s = ParseSource("docker-archive:" + dir_ + "/rootfs.tar:busybox:latest");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->path, dir_ + "/rootfs.tar");
  EXPECT_EQ(s->ref, "busybox:latest");
  ASSERT_TRUE(testing::WriteFile(dir_ + "/a:b.tar", "x"));
  s = ParseSource("oci-archive:" + dir_ + "/a:b.tar");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->path, dir_ + "/a:b.tar");
  EXPECT_EQ(s->ref, "");
}

TEST_F(SourceTest, BarePaths) {
  auto s = ParseSource(dir_ + "/rootfs.tar");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, SourceKind::kRootfsTar);
  s = ParseSource(dir_ + "/layout");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, SourceKind::kDirectory);
}

TEST_F(SourceTest, Refusals) {
  EXPECT_FALSE(ParseSource(""));
  EXPECT_FALSE(ParseSource("oci:"));
  auto s = ParseSource(dir_ + "/missing");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("oci:DIR"), std::string::npos) << s.error().message;
  EXPECT_FALSE(ParseSource("oci:" + dir_ + "/missing"));
  EXPECT_FALSE(ParseSource("/dev/null"));  // neither a regular file nor a directory
}

}  // namespace
}  // namespace uvm::store
