// e2e for `uvm run -v` and `uvm run --rootfs`: host directories in containers over virtio-fs, on
// the clone path (the default: a template whose share devices are unbound, each clone binding its
// own directories) and on a boot (--cold). Skipped (reported as not run) where this host's KVM
// cannot run Linux.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "tests/e2e/linux_guests.h"
#include "tests/support/background_process.h"
#include "tests/support/process.h"
#include "tests/support/scratch_root.h"

namespace {

using uvm::testing::BackgroundProcess;
using uvm::testing::ProcessResult;
using uvm::testing::RunProcess;

// A file's content, "" when it cannot be read.
std::string Slurp(const std::string& path) {
  return uvm::ReadFileLimited(path, 1 << 20).value_or("");
}

bool WaitForFile(const std::string& path, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (access(path.c_str(), F_OK) != 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

// Writes FILE whole before it appears (a rename), so a reader that waits for it to exist never
// reads it half-written.
void PublishFile(const std::string& path, const std::string& content) {
  std::ofstream(path + ".tmp") << content;
  ASSERT_EQ(rename((path + ".tmp").c_str(), path.c_str()), 0);
}

// In the container: the same, with `mv`.
std::string PublishInContainer(const std::string& file, const std::string& word) {
  return "echo " + word + " > " + file + ".tmp && mv " + file + ".tmp " + file;
}

// In the container: wait (up to 60 s) for FILE to appear, then print it.
std::string AwaitInContainer(const std::string& file) {
  return "i=0; while [ ! -f " + file +
         " ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; cat " + file;
}

class VolumeE2eTest : public ::testing::Test {
 protected:
  // The state root and the shared directories on /run: a tmpfs on hosts and in the lab (whose /
  // is the host's over 9p).
  static void SetUpTestSuite() { root_ = uvm::testing::MakeScratchRoot("volume-e2e"); }
  static void TearDownTestSuite() { uvm::testing::RemoveScratchRoot(root_); }
  void SetUp() override {
    UVM_SKIP_UNLESS_LINUX_GUESTS();
    ASSERT_FALSE(root_.empty());
    dir_ = uvm::testing::MakeScratchRoot("volume-e2e-dir");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    if (!dir_.empty()) uvm::testing::RemoveScratchRoot(dir_);
  }
  std::vector<std::string> Argv(const std::vector<std::string>& run_args) {
    std::vector<std::string> argv = {UVM_BINARY, "--root", root_, "run"};
    argv.insert(argv.end(), run_args.begin(), run_args.end());
    return argv;
  }
  ProcessResult Run(const std::vector<std::string>& run_args) {
    ProcessResult r = RunProcess(Argv(run_args), "", 240);
    EXPECT_FALSE(r.timed_out) << r.out << r.err;
    return r;
  }
  static std::string root_;
  std::string dir_;
};
std::string VolumeE2eTest::root_;

TEST_F(VolumeE2eTest, WritesAreSeenOnBothSidesWhileTheContainerRuns) {
  std::ofstream(dir_ + "/from-host") << "host";
  // The container writes, then waits for the host's answer to its write: each side sees the
  // other's file while the container runs.
  BackgroundProcess run(
      Argv({"-v", dir_ + ":/data", "busybox", "sh", "-c",
            "cat /data/from-host; " + PublishInContainer("/data/from-ctr", "ctr") + "; " +
                AwaitInContainer("/data/answer")}));
  ASSERT_TRUE(WaitForFile(dir_ + "/from-ctr", 120)) << run.out();
  EXPECT_EQ(Slurp(dir_ + "/from-ctr"), "ctr\n");
  PublishFile(dir_ + "/answer", "seen");
  ProcessResult r = run.Wait(120);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hostseen") << r.err;
}

TEST_F(VolumeE2eTest, ReadOnlyVolumesNestedTargetsAndABoot) {
  ASSERT_EQ(mkdir((dir_ + "/ro").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir_ + "/rw").c_str(), 0755), 0);
  std::ofstream(dir_ + "/ro/keep") << "kept";
  ProcessResult r =
      Run({"--cold", "-v", dir_ + "/ro:/a/b/ro:ro", "-v", dir_ + "/rw:/rw", "busybox", "sh", "-c",
           "cat /a/b/ro/keep; echo x > /a/b/ro/new || echo refused; echo w > /rw/w; "
           "echo ra=$(cat /sys/class/bdi/$(awk '$5==\"/rw\"{print $3}' "
           "/proc/self/mountinfo)/read_ahead_kb)"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("kept"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("refused"), std::string::npos) << r.out;
  // The agent's read-ahead for shares (guest-agent/share_readahead.h), not the kernel's 128.
  EXPECT_NE(r.out.find("ra=1024"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r.err;
  EXPECT_NE(access((dir_ + "/ro/new").c_str(), F_OK), 0);
  EXPECT_EQ(Slurp(dir_ + "/rw/w"), "w\n");
}

TEST_F(VolumeE2eTest, TwoClonesShareOneDirectory) {
  BackgroundProcess first(
      Argv({"-v", dir_ + ":/shared", "busybox", "sh", "-c",
            PublishInContainer("/shared/one", "one") + "; " + AwaitInContainer("/shared/two")}));
  ASSERT_TRUE(WaitForFile(dir_ + "/one", 120)) << first.out();
  // Published whole (written, then renamed into place): the first container polls for the
  // name, and a file seen between its creation and its write would read empty.
  ProcessResult second = Run({"-v", dir_ + ":/shared", "busybox", "sh", "-c",
                              "cat /shared/one; " + PublishInContainer("/shared/two", "two")});
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out, "one\n");
  ProcessResult r = first.Wait(120);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "two\n") << r.err;
}

TEST_F(VolumeE2eTest, ADirectoryAsTheRootFilesystem) {
  const std::string rootfs = dir_ + "/rootfs";
  ASSERT_EQ(mkdir(rootfs.c_str(), 0755), 0);
  ASSERT_EQ(
      system(("tar -xf '" + std::string(UVM_IMAGES) + "/busybox-rootfs.tar' -C '" + rootfs + "'")
                 .c_str()),
      0);
  // Twice: the first run makes the template (shares unbound), the second is a clone of it.
  for (const char* word : {"first", "second"}) {
    ProcessResult r = Run({"--rootfs", rootfs, "-v", dir_ + "/vol:/mnt/vol", "sh", "-c",
                           std::string("echo ") + word + " >> /written; echo v > /mnt/vol/" + word +
                               "; head -1 /etc/passwd"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "root:x:0:0:root:/root:/bin/sh\n") << r.err;
    EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  }
  EXPECT_EQ(Slurp(rootfs + "/written"), "first\nsecond\n");
  EXPECT_EQ(Slurp(dir_ + "/vol/second"), "v\n");  // -v made the missing host directory
}

// A Debian root filesystem (debootstrap minbase with python3-minimal; `make images` builds the
// tar) as the container's root: dynamically linked programs, their libraries and configuration
// all come over the share.
TEST_F(VolumeE2eTest, ADebianDirectoryAsTheRootRunsPython3AndApt) {
  const std::string tar = std::string(UVM_IMAGES) + "/debian-rootfs.tar";
  ASSERT_EQ(access(tar.c_str(), R_OK), 0) << tar << " is missing: run `make images`";
  const std::string rootfs = dir_ + "/debian";
  ASSERT_EQ(mkdir(rootfs.c_str(), 0755), 0);
  ASSERT_EQ(system(("tar --numeric-owner -xf '" + tar + "' -C '" + rootfs + "'").c_str()), 0);
  // python3-minimal: the interpreter and its core modules (no json).
  ProcessResult python = Run(
      {"--rootfs", rootfs, "python3", "-c", "import sys, os; print(sys.argv, os.getuid())", "a b"});
  EXPECT_EQ(python.exit_code, 0) << python.err;
  EXPECT_EQ(python.out, "['-c', 'a b'] 0\n") << python.err;
  ProcessResult apt = Run({"--rootfs", rootfs, "apt-get", "--version"});
  EXPECT_EQ(apt.exit_code, 0) << apt.err;
  EXPECT_EQ(apt.out.rfind("apt 2.", 0), 0u) << apt.out << apt.err;
  // Written by the container into the directory itself.
  ProcessResult write = Run({"--rootfs", rootfs, "sh", "-c", "echo $(id -u) > /root/uid"});
  EXPECT_EQ(write.exit_code, 0) << write.err;
  EXPECT_EQ(Slurp(rootfs + "/root/uid"), "0\n");
}

TEST_F(VolumeE2eTest, BadVolumesAreRefusedBeforeAnyVm) {
  std::ofstream(dir_ + "/file") << "";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"-v", "named:/x", "busybox", "true"},
        {"-v", dir_ + "/file:/x", "busybox", "true"},
        {"-v", dir_ + ":relative", "busybox", "true"},
        {"-v", dir_ + ":/x:rx", "busybox", "true"},
        {"--rootfs", dir_ + "/missing", "true"}}) {
    ProcessResult r = Run(args);
    EXPECT_EQ(r.exit_code, 125) << args[1];
    EXPECT_NE(r.err.find("uvm: "), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  }
}

}  // namespace
