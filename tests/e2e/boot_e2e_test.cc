// The e2e tier for `uvm boot`: the built guest kernel and the test initramfs under the real uvm
// binary. Needs a KVM that runs Linux (real hardware virtualization, or the lab); elsewhere every
// test reports SKIPPED with the reason — never passed.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "tests/e2e/linux_guests.h"
#include "tests/support/process.h"

namespace {

using uvm::testing::ProcessResult;
using uvm::testing::RunProcess;

const std::string kUvm = UVM_BINARY;
const std::string kImages = UVM_IMAGES;

class BootE2eTest : public ::testing::Test {
 protected:
  void SetUp() override { UVM_SKIP_UNLESS_LINUX_GUESTS(); }
  ProcessResult Boot(const std::string& mode, const std::vector<std::string>& extra = {},
                     const std::string& kernel = "vmlinux", const std::string& input = "") {
    std::vector<std::string> argv = {kUvm,        "boot",
                                     "--kernel",  kImages + "/" + kernel,
                                     "--initrd",  kImages + "/test-initramfs.cpio.gz",
                                     "--cmdline", "uvmtest=" + mode};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ProcessResult r = RunProcess(argv, input, 300);
    EXPECT_FALSE(r.timed_out) << "uvm boot timed out; output:\n" << r.out << r.err;
    return r;
  }
};

void ExpectInfo(const ProcessResult& r, int cpus, long mem_mib) {
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("UVMTEST cpus=(\\d+) mem_kb=(\\d+)")))
      << r.out;
  EXPECT_EQ(std::stoi(m[1]), cpus);
  long kb = std::stol(m[2]);
  // MemTotal is RAM less what the kernel keeps for itself: a little below what was given.
  EXPECT_LE(kb, mem_mib * 1024);
  EXPECT_GE(kb, mem_mib * 1024 - 64 * 1024) << "guest sees far less memory than configured";
}

TEST_F(BootE2eTest, VmlinuxBootsToUserSpaceWithOneCpu) {
  ExpectInfo(Boot("info", {"--cpus", "1", "--memory", "256"}), 1, 256);
}

TEST_F(BootE2eTest, GuestSeesRequestedCpusAndMemory) {
  ExpectInfo(Boot("info", {"--cpus", "4", "--memory", "512"}), 4, 512);
}

TEST_F(BootE2eTest, BzImageBootsToo) {
  ExpectInfo(Boot("info", {"--cpus", "2", "--memory", "192"}, "bzImage"), 2, 192);
}

TEST_F(BootE2eTest, RebootEndsUvmWithZero) {
  ProcessResult r = Boot("reboot");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("UVMTEST rebooting"), std::string::npos) << r.out;
}

TEST_F(BootE2eTest, PowerOffStatusBecomesUvmsExitCode) {
  ProcessResult r = Boot("exit=7");
  EXPECT_EQ(r.exit_code, 7) << r.out << r.err;
}

TEST_F(BootE2eTest, GuestPanicIsNotASuccess) {
  ProcessResult r = Boot("panic");
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("panicked"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("Kernel panic"), std::string::npos);
}

TEST_F(BootE2eTest, StdinReachesTheGuestConsole) {
  ProcessResult r = Boot("echo", {}, "vmlinux", "hello from the host\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("UVMTEST echo: hello from the host"), std::string::npos) << r.out;
}

}  // namespace
