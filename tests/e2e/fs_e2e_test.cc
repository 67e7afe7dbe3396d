// e2e for virtio-fs under `uvm boot --share`: a real Linux guest mounts two host directories
// (one read-write, one read-only) and runs each operation of the test init's `fs` mode; the test
// compares what the guest says with what the host sees. Skipped (reported as not run) where this
// host's KVM cannot run Linux.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "base/fs.h"
#include "tests/e2e/linux_guests.h"
#include "tests/support/process.h"

namespace {

using uvm::testing::ProcessResult;
using uvm::testing::RunProcess;

// A file's content, "" when it cannot be read.
std::string Slurp(const std::string& path) {
  return uvm::ReadFileLimited(path, 1 << 20).value_or("");
}

class FsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UVM_SKIP_UNLESS_LINUX_GUESTS();
    // /run is a tmpfs on hosts and in the lab, whose / (and /tmp) is the host's over 9p: the
    // share must sit on a filesystem that can hold FIFOs and trusted.* xattrs.
    char tmpl[] = "/run/uvm-fs-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    share_ = dir_ + "/share";
    ro_ = dir_ + "/ro";
    canary_ = dir_ + "/canary";
    ASSERT_EQ(mkdir(share_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(ro_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((share_ + "/to-rmdir").c_str(), 0755), 0);
    std::ofstream(share_ + "/from-host") << "host says hi";
    std::ofstream(share_ + "/to-unlink") << "x";
    std::ofstream(canary_) << "canary";
    ASSERT_EQ(symlink(canary_.c_str(), (share_ + "/escape").c_str()), 0);
  }
  void TearDown() override {
    if (!dir_.empty()) {
      EXPECT_EQ(Slurp(canary_), "canary");
      ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0);
    }
  }
  std::string dir_, share_, ro_, canary_;
};

TEST_F(FsE2eTest, EveryOperationLandsOnTheHostAndNothingEscapes) {
  ProcessResult r = RunProcess(
      {UVM_BINARY, "boot", "--kernel", std::string(UVM_IMAGES) + "/vmlinux", "--initrd",
       std::string(UVM_IMAGES) + "/test-initramfs.cpio.gz", "--memory", "256", "--share",
       share_ + ",tag=share", "--share", ro_ + ",tag=rosh,ro", "--cmdline", "uvmtest=fs"},
      "", 600);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_NE(r.out.find("UVMTEST fs done"), std::string::npos) << r.out << r.err;
  auto said = [&](const std::string& line) {
    return r.out.find("UVMTEST fs " + line + "\n") != std::string::npos ||
           r.out.find("UVMTEST fs " + line + "\r\n") != std::string::npos;
  };
  EXPECT_TRUE(said("read=host says hi")) << r.out;
  EXPECT_TRUE(said("ops=ok")) << r.out;
  EXPECT_TRUE(said("via-link=host says hi")) << r.out;
  // The guest gets the host filesystem's answer (the lab's tmpfs may have no xattrs).
  const std::string probe = dir_ + "/xattr-probe";
  std::ofstream(probe) << "";
  const bool host_xattrs = setxattr(probe.c_str(), "trusted.uvm", "v", 1, 0) == 0;
  EXPECT_TRUE(said(host_xattrs ? "xattr=v" : "xattr=EOPNOTSUPP")) << r.out;
  EXPECT_TRUE(said("seek-hole=5")) << r.out;
  EXPECT_TRUE(said("list=big,copy,fifo,hard,link,renamed")) << r.out;
  EXPECT_TRUE(said("statfs=ok")) << r.out;
  EXPECT_TRUE(said("escape=ENOENT")) << r.out;
  EXPECT_TRUE(said("ro-create=EROFS")) << r.out;

  // The host's view of what the guest did.
  const std::string g = share_ + "/g/";
  EXPECT_EQ(Slurp(g + "renamed"), "guest");
  struct stat st, hard;
  ASSERT_EQ(lstat((g + "renamed").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1234567890);
  if (geteuid() == 0) {
    EXPECT_EQ(st.st_uid, 1000u);
    EXPECT_EQ(st.st_gid, 1000u);
  }
  ASSERT_EQ(lstat((g + "hard").c_str(), &hard), 0);
  EXPECT_EQ(hard.st_ino, st.st_ino);
  EXPECT_EQ(st.st_nlink, 2u);
  char target[64] = {};
  ASSERT_EQ(readlink((g + "link").c_str(), target, sizeof target), 12);
  EXPECT_STREQ(target, "../from-host");
  ASSERT_EQ(lstat((g + "fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_EQ(lstat((g + "big").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1 << 20);
  EXPECT_EQ(Slurp(g + "copy"), "host says hi");
  if (host_xattrs) {
    char value[8] = {};
    EXPECT_EQ(getxattr((g + "renamed").c_str(), "trusted.uvm", value, sizeof value), 1);
    EXPECT_EQ(value[0], 'v');
  }
  EXPECT_NE(access((share_ + "/to-unlink").c_str(), F_OK), 0);
  EXPECT_NE(access((share_ + "/to-rmdir").c_str(), F_OK), 0);
  EXPECT_NE(access((ro_ + "/x").c_str(), F_OK), 0);
}

}  // namespace
