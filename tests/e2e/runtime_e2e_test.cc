// e2e for `uvm-runtime` under a real engine: podman (started by the test, no systemd: cgroupfs and
// file events, its storage on the suite's tmpfs) with `--runtime build/uvm-runtime`. A container
// annotated io.uvm.isolation=process runs under the host's runc with uvm-runtime routing every
// command; VM isolation (the default) is refused with the reason, until it lands. Runs where the
// e2e tier runs (in the lab on hosts whose KVM cannot run Linux), which hosts engines.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/fs.h"
#include "tests/e2e/linux_guests.h"
#include "tests/support/process.h"
#include "tests/support/scratch_root.h"

namespace {

using uvm::testing::ProcessResult;
using uvm::testing::RunProcess;

constexpr char kImage[] = "localhost/uvm-runtime-e2e";
constexpr char kProcess[] = "io.uvm.isolation=process";

class RuntimeE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = uvm::testing::MakeScratchRoot("runtime-e2e");
    if (root_.empty() || !uvm::FindInPath("podman") || !uvm::FindInPath("runc")) return;
    ProcessResult r = RunProcess(
        Podman({"import", "--quiet", std::string(UVM_IMAGES) + "/busybox-rootfs.tar", kImage}), "",
        240);
    imported_ = r.exit_code == 0;
    import_error_ = r.err;
  }
  static void TearDownTestSuite() {
    if (!root_.empty()) RunProcess(Podman({"rm", "--all", "--force"}), "", 120);
    uvm::testing::RemoveScratchRoot(root_);
  }
  void SetUp() override {
    UVM_SKIP_UNLESS_LINUX_GUESTS();
    if (!uvm::FindInPath("podman") || !uvm::FindInPath("runc")) {
      GTEST_SKIP() << "podman or runc is not installed (make deps installs them)";
    }
    ASSERT_TRUE(imported_) << "podman import failed: " << import_error_;
  }
  static std::vector<std::string> Podman(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"podman",
                                     "--root",
                                     root_ + "/storage",
                                     "--runroot",
                                     root_ + "/run",
                                     "--storage-driver",
                                     "overlay",
                                     "--cgroup-manager",
                                     "cgroupfs",
                                     "--events-backend",
                                     "file",
                                     "--runtime",
                                     std::string(UVM_BINARY) + "-runtime"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  static ProcessResult RunPodman(const std::vector<std::string>& args) {
    ProcessResult r = RunProcess(Podman(args), "", 240);
    EXPECT_FALSE(r.timed_out) << r.out << r.err;
    return r;
  }
  static std::string root_;
  static bool imported_;
  static std::string import_error_;
};
std::string RuntimeE2eTest::root_;
bool RuntimeE2eTest::imported_ = false;
std::string RuntimeE2eTest::import_error_;

TEST_F(RuntimeE2eTest, AProcessIsolatedRunPassesItsOutputAndStatus) {
  ProcessResult r = RunPodman({"run", "--rm", "--network", "none", "--annotation", kProcess, kImage,
                               "sh", "-c", "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "out\n");
  EXPECT_NE(r.err.find("err"), std::string::npos) << r.err;
}

// Detached, then exec, kill and remove: each command names the container and reaches runc through
// uvm-runtime. The container's process is a host process (Windows' way of showing process
// isolation): the host finds its `sleep`.
TEST_F(RuntimeE2eTest, ADetachedProcessContainerTakesExecKillAndRemove) {
  ProcessResult run = RunPodman({"run", "-d", "--name", "detached", "--network", "none",
                                 "--annotation", kProcess, kImage, "sleep", "301"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ProcessResult exec = RunPodman({"exec", "detached", "sh", "-c", "echo hi; exit 3"});
  EXPECT_EQ(exec.exit_code, 3) << exec.err;
  EXPECT_EQ(exec.out, "hi\n");
  ProcessResult seen = RunProcess({"pgrep", "-f", "^sleep 301$"}, "", 30);
  EXPECT_EQ(seen.exit_code, 0) << "the container's sleep is not a host process";
  ProcessResult kill = RunPodman({"kill", "--signal", "KILL", "detached"});
  EXPECT_EQ(kill.exit_code, 0) << kill.err;
  ProcessResult wait = RunPodman({"wait", "detached"});
  EXPECT_EQ(wait.out, "137\n") << wait.err;
  ProcessResult rm = RunPodman({"rm", "detached"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
}

TEST_F(RuntimeE2eTest, VmIsolationIsRefusedWithTheReason) {
  ProcessResult r =
      RunPodman({"run", "--rm", "--network", "none", kImage, "echo", "never printed"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("VM isolation is not available in uvm-runtime yet"), std::string::npos)
      << r.err;
}

}  // namespace
