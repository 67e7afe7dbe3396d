// WaitForDisk on regular files (sized by their length); the block-device path (BLKGETSIZE64) runs
// in every container start of the agent and e2e tests.
#include "guest-agent/container_root.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace uvm::agent {
namespace {

using namespace std::chrono_literals;

class WaitForDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvm-disk-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    disk_ = dir_ + "/vda";
  }
  void TearDown() override {
    unlink(disk_.c_str());
    rmdir(dir_.c_str());
  }
  void Write(const std::string& path, const std::string& bytes) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }
  // Writes the disk 50 ms from now, as a capacity change or a late device node would arrive.
  std::thread WriteLater(std::string bytes) {
    return std::thread([this, bytes = std::move(bytes)] {
      std::this_thread::sleep_for(50ms);
      Write(disk_, bytes);
    });
  }
  std::string dir_, disk_;
};

TEST_F(WaitForDiskTest, ADiskWithASizeIsReadyAtOnce) {
  Write(disk_, "data");
  EXPECT_TRUE(WaitForDisk(disk_, 0ms));
}

TEST_F(WaitForDiskTest, AMissingDiskTimesOutNamingTheDevice) {
  auto r = WaitForDisk(disk_, 30ms);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(disk_), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("within 30 ms"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
}

TEST_F(WaitForDiskTest, AnEmptyDiskIsWaitedForUntilItGrows) {
  Write(disk_, "");
  EXPECT_FALSE(WaitForDisk(disk_, 20ms));  // a 0-byte placeholder is not ready
  std::thread grow = WriteLater("capacity");
  auto r = WaitForDisk(disk_, 10s);
  grow.join();
  EXPECT_TRUE(r) << r.error().message;
}

TEST_F(WaitForDiskTest, ADiskThatAppearsLaterIsWaitedFor) {
  std::thread appear = WriteLater("x");
  auto r = WaitForDisk(disk_, 10s);
  appear.join();
  EXPECT_TRUE(r) << r.error().message;
}

TEST_F(WaitForDiskTest, SomethingElseIsRefusedAtOnce) {
  auto r = WaitForDisk(dir_, 10s);  // a directory
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a block device"), std::string::npos);
  r = WaitForDisk("/dev/null", 10s);
  ASSERT_FALSE(r);
}

TEST(ValidateRootfsTest, SharesAndVolumes) {
  EXPECT_TRUE(ValidateRootfs(Rootfs{"/dev/vda", "ext4", 256, {}}));
  EXPECT_FALSE(ValidateRootfs(Rootfs{"vda", "ext4", 256, {}}));
  EXPECT_TRUE(ValidateRootfs(Rootfs{"uvmfs0", kVirtiofs, 256, {}}));
  EXPECT_FALSE(ValidateRootfs(Rootfs{"/dev/vda", kVirtiofs, 256, {}}));
  EXPECT_FALSE(ValidateRootfs(Rootfs{"a,b", kVirtiofs, 256, {}}));
  Rootfs fs{"/dev/vda", "ext4", 256, {{"uvmfs0", "/data", false}, {"uvmfs1", "/a/b/", true}}};
  EXPECT_TRUE(ValidateRootfs(fs));
  for (const char* bad : {"", "/", "data", "/a/../b", "/..", "/a/.."}) {
    fs.volumes[0].target = bad;
    EXPECT_FALSE(ValidateRootfs(fs)) << bad;
  }
  fs.volumes[0].target = "/data";
  fs.volumes[0].tag = "a/b";
  EXPECT_FALSE(ValidateRootfs(fs));
}

TEST(OpenMountPointTest, MakesMissingDirectoriesAndRefusesSymlinks) {
  char tmpl[] = "/tmp/uvm-mountpoint-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string root = tmpl;
  auto fd = OpenMountPoint(root, "/a/b/c");
  ASSERT_TRUE(fd) << fd.error().message;
  struct stat st;
  ASSERT_EQ(stat((root + "/a/b/c").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_TRUE(OpenMountPoint(root, "/a/b/c"));  // already there
  // A symlink to a directory outside the root: refused, and nothing made where it points.
  char outside[] = "/tmp/uvm-mountpoint-outside-XXXXXX";
  ASSERT_NE(mkdtemp(outside), nullptr);
  ASSERT_EQ(symlink(outside, (root + "/link").c_str()), 0);
  EXPECT_FALSE(OpenMountPoint(root, "/link/x"));
  EXPECT_NE(access((std::string(outside) + "/x").c_str(), F_OK), 0);
  ASSERT_EQ(system(("rm -rf '" + root + "' '" + outside + "'").c_str()), 0);
}

}  // namespace
}  // namespace uvm::agent
