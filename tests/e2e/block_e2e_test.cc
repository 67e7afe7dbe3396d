// e2e for virtio-blk under `uvm boot`: a real Linux guest reads and writes a host file through
// /dev/vda. Skipped (reported as not run) where this host's KVM cannot run Linux.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "tests/e2e/linux_guests.h"
#include "tests/support/background_process.h"
#include "tests/support/process.h"

namespace {

using uvm::testing::ProcessResult;
using uvm::testing::RunProcess;

class BlockE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UVM_SKIP_UNLESS_LINUX_GUESTS();
    char tmpl[] = "/tmp/uvm-block-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    disk_ = dir_ + "/disk.img";
    std::string sector0 = "UVMDISK-HOST-123";
    sector0.resize(512, '\0');
    std::ofstream(disk_, std::ios::binary) << sector0 << std::string(8 << 20, '\0');
  }
  void TearDown() override {
    if (!dir_.empty()) {
      ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0);
    }
  }
  ProcessResult Boot(const std::vector<std::string>& disk_args, const std::string& mode = "disk",
                     const std::string& kill_at = "") {
    std::vector<std::string> argv = {
        UVM_BINARY,  "boot",
        "--kernel",  std::string(UVM_IMAGES) + "/vmlinux",
        "--initrd",  std::string(UVM_IMAGES) + "/test-initramfs.cpio.gz",
        "--memory",  "256",
        "--cmdline", "uvmtest=" + mode};
    for (const auto& d : disk_args) {
      argv.push_back("--disk");
      argv.push_back(d);
    }
    return RunProcess(argv, "", 600, kill_at);
  }
  std::string Sector1() {
    std::ifstream in(disk_, std::ios::binary);
    std::string s(16, '\0');
    in.seekg(512);
    in.read(s.data(), 16);
    return s;
  }
  std::string dir_, disk_;
};

TEST_F(BlockE2eTest, GuestReadsHostDataAndItsFlushedWriteReachesTheFile) {
  ProcessResult r = Boot({disk_});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("UVMTEST disk read 512: UVMDISK-HOST-123"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("UVMTEST disk write: ok"), std::string::npos) << r.out;
  EXPECT_EQ(Sector1().substr(0, 13), "UVMDISK-GUEST");
}

TEST_F(BlockE2eTest, ReadOnlyDiskRefusesWritesAndStaysUnchanged) {
  ProcessResult r = Boot({disk_ + ",ro"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("UVMTEST disk read 512: UVMDISK-HOST-123"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("UVMTEST disk write: ok"), std::string::npos) << r.out;
  EXPECT_EQ(Sector1(), std::string(16, '\0'));
}

TEST_F(BlockE2eTest, FlushedDataSurvivesSigkillOfTheVmm) {
  // The guest writes 64 MiB, fsyncs, says so; uvm is then killed with SIGKILL at once. Every
  // flushed byte must be in the host file (virtio 5.2.6.4: a completed flush means durable).
  ASSERT_EQ(truncate(disk_.c_str(), 64 << 20), 0);
  ProcessResult r = Boot({disk_}, "pattern", "UVMTEST pattern flushed");
  ASSERT_TRUE(r.killed_at_marker) << "exit " << r.exit_code << "\n" << r.out << r.err;
  EXPECT_EQ(r.signal, SIGKILL);
  std::ifstream in(disk_, std::ios::binary);
  std::string block(4096, '\0');
  for (int b = 0; b < (64 << 20) / 4096; ++b) {
    ASSERT_TRUE(in.read(block.data(), 4096)) << "short file at block " << b;
    for (int i = 0; i < 4096; ++i) {
      ASSERT_EQ(static_cast<uint8_t>(block[i]), (b * 7 + i) & 0xff)
          << "byte " << i << " of block " << b;
    }
  }
}

TEST_F(BlockE2eTest, TwoDisksAtOnce) {
  std::string second = dir_ + "/second.img";
  std::string sector0 = "SECOND-DISK-4567";
  sector0.resize(4096, '\0');
  std::ofstream(second, std::ios::binary) << sector0;
  ProcessResult r = Boot({disk_, second + ",ro"}, "twodisks");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("UVMTEST /dev/vda 16: UVMDISK-HOST-123"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("UVMTEST /dev/vdb 16: SECOND-DISK-4567"), std::string::npos) << r.out;
}

TEST_F(BlockE2eTest, GrowingTheImageOnTheHostReachesTheGuest) {
  // 8 MiB + 512 bytes at first; the guest sees the new size after a config-change interrupt.
  uvm::testing::BackgroundProcess vm(
      {UVM_BINARY, "boot", "--kernel", std::string(UVM_IMAGES) + "/vmlinux", "--initrd",
       std::string(UVM_IMAGES) + "/test-initramfs.cpio.gz", "--memory", "256", "--disk", disk_,
       "--cmdline", "uvmtest=capacity"});
  ASSERT_TRUE(vm.WaitForOutput("UVMTEST capacity waiting", 300)) << vm.out();
  EXPECT_NE(vm.out().find("UVMTEST capacity 16385\r\n"), std::string::npos) << vm.out();
  ASSERT_EQ(truncate(disk_.c_str(), 32 << 20), 0);
  ProcessResult r = vm.Wait(120);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("UVMTEST capacity now 65536"), std::string::npos) << r.out;
}

}  // namespace
