// WarmTree over a scratch directory; ImageCache's mount runs in the template e2e tests (it needs
// a block device and CAP_SYS_ADMIN).
#include "guest-agent/image_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace uvm::agent {
namespace {

class WarmTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvm-warm-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_EQ(system(("rm -rf " + dir_).c_str()), 0); }
  void Write(const std::string& rel, size_t bytes) {
    const std::string path = dir_ + "/" + rel;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << path;
    const std::string data(bytes, 'x');
    ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    close(fd);
  }
  void Dir(const std::string& rel) { ASSERT_EQ(mkdir((dir_ + "/" + rel).c_str(), 0755), 0); }
  std::string dir_;
};

TEST_F(WarmTreeTest, ReadsWholeFilesUntilTheBudgetAndSkipsWhatDoesNotFit) {
  Write("a", 10);
  Write("big", 1000);
  Dir("sub");
  Write("sub/b", 100);
  Dir("sub/deeper");
  Write("sub/deeper/c", 30);
  ASSERT_EQ(symlink("big", (dir_ + "/link").c_str()), 0);
  ASSERT_EQ(mkfifo((dir_ + "/fifo").c_str(), 0600), 0);  // would block a reader forever

  auto all = WarmTree(dir_, 1 << 20);
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->files, 4u);  // a, big, sub/b, sub/deeper/c: not the link or the fifo
  EXPECT_EQ(all->bytes, 1140u);

  // 130 bytes: a (10), then big does not fit, then sub/b (100), then c would pass the budget.
  auto some = WarmTree(dir_, 130);
  ASSERT_TRUE(some) << some.error().message;
  EXPECT_EQ(some->files, 2u);
  EXPECT_EQ(some->bytes, 110u);

  auto none = WarmTree(dir_, 0);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->files, 0u);
}

TEST_F(WarmTreeTest, NotADirectoryIsAnError) {
  Write("file", 1);
  EXPECT_FALSE(WarmTree(dir_ + "/file", 100));
  EXPECT_FALSE(WarmTree(dir_ + "/missing", 100));
}

TEST(ImageCacheTest, BadRootfsIsRefusedBeforeAnyMount) {
  ImageCache cache("/nonexistent-uvm-test");
  EXPECT_FALSE(cache.Prepare(Rootfs{"vda", "ext4", 1, {}}, 0));
  EXPECT_FALSE(cache.Prepare(Rootfs{"/dev/vda", "ext4,rw", 1, {}}, 0));
  EXPECT_FALSE(cache.Find(Rootfs{"/dev/vda", "ext4", 1, {}}));
}

}  // namespace
}  // namespace uvm::agent
