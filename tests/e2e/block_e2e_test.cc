// e2e for virtio-blk under `uvm boot`: a real Linux guest reads and writes a host file through
// /dev/vda. Skipped (reported as not run) where this host's KVM cannot run Linux.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "tests/support/process.h"
#include "vmm/host_probe.h"

namespace {

using uvm::testing::ProcessResult;
using uvm::testing::RunProcess;

class BlockE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static const bool direct = uvm::vmm::ProbeHost().linux_direct();
    if (!direct)
      GTEST_SKIP() << "this host's KVM cannot run Linux guests; make test runs e2e in the lab";
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
  ProcessResult Boot(const std::string& disk_arg) {
    return RunProcess({UVM_BINARY, "boot", "--kernel", std::string(UVM_IMAGES) + "/vmlinux",
                       "--initrd", std::string(UVM_IMAGES) + "/test-initramfs.cpio.gz", "--cmdline",
                       "uvmtest=disk", "--disk", disk_arg},
                      "", 300);
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
  ProcessResult r = Boot(disk_);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("UVMTEST disk read 512: UVMDISK-HOST-123"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("UVMTEST disk write: ok"), std::string::npos) << r.out;
  EXPECT_EQ(Sector1().substr(0, 13), "UVMDISK-GUEST");
}

TEST_F(BlockE2eTest, ReadOnlyDiskRefusesWritesAndStaysUnchanged) {
  ProcessResult r = Boot(disk_ + ",ro");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("UVMTEST disk read 512: UVMDISK-HOST-123"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("UVMTEST disk write: ok"), std::string::npos) << r.out;
  EXPECT_EQ(Sector1(), std::string(16, '\0'));
}

}  // namespace
