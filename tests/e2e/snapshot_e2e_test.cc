// The e2e tier for `uvm snapshot save|restore` and `uvm boot --api-sock`: a guest printing a tick
// every 5 ms is saved while it runs and restored, and must go on counting from where it was
// (no second boot). Refusals of a snapshot that does not fit are checked on the same snapshot.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "tests/e2e/linux_guests.h"
#include "tests/support/background_process.h"
#include "tests/support/process.h"

namespace {

using uvm::testing::BackgroundProcess;
using uvm::testing::ProcessResult;
using uvm::testing::RunProcess;

const std::string kUvm = UVM_BINARY;
const std::string kImages = UVM_IMAGES;

// The N of every "UVMTEST tick N" but the last, which a save or a kill may have cut short. A
// kernel message may follow a tick without a line break (the restored guest's clocksource
// watchdog notices the TSC jump), so lines are not required to end.
std::vector<long> Ticks(const std::string& out) {
  std::vector<long> ticks;
  static const std::regex kTick("UVMTEST tick (\\d+)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), kTick); it != std::sregex_iterator();
       ++it) {
    ticks.push_back(std::stol((*it)[1]));
  }
  if (!ticks.empty()) ticks.pop_back();
  return ticks;
}

bool ExistsAsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// One line on stderr, uvm's prefix, exit 125.
void ExpectRefused(const ProcessResult& r, const std::string& why) {
  EXPECT_EQ(r.exit_code, 125) << r.out << r.err;
  EXPECT_EQ(r.err.rfind("uvm: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("UVMTEST tick"), std::string::npos) << "the guest ran: " << r.out;
}

// `ticks` (of a restored guest) go on from `last` (seen before the save) one by one, with no
// boot in between.
void ExpectContinues(const std::vector<long>& ticks, long last, const std::string& out) {
  ASSERT_FALSE(ticks.empty()) << out;
  // The save may cut a tick's line in two: the first whole one after it is at most 3 past the
  // last whole one before (the one the save cut is dropped, and its successor's start).
  EXPECT_GT(ticks.front(), last) << out;
  EXPECT_LE(ticks.front(), last + 3) << "ticks were lost or the guest restarted:\n" << out;
  for (size_t i = 1; i < ticks.size(); ++i) ASSERT_EQ(ticks[i], ticks[i - 1] + 1) << out;
  EXPECT_EQ(out.find("Linux version"), std::string::npos) << "the kernel booted again";
}

class SnapshotE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UVM_SKIP_UNLESS_LINUX_GUESTS();
    // Not under the build tree: the lab shares it over 9p, where unix sockets cannot be bound.
    work_ = "/dev/shm/uvm-snapshot-e2e-" + std::to_string(::getpid());
    std::filesystem::remove_all(work_);
    std::filesystem::create_directories(work_);
  }
  void TearDown() override {
    if (!work_.empty()) std::filesystem::remove_all(work_);
  }
  std::string work_;
};

TEST_F(SnapshotE2eTest, SavedGuestResumesWhereItWasAndBadSnapshotsAreRefused) {
  const std::string sock = work_ + "/api.sock";
  const std::string snap = work_ + "/snap";
  BackgroundProcess boot({kUvm, "boot", "--kernel", kImages + "/vmlinux", "--initrd",
                          kImages + "/test-initramfs.cpio.gz", "--cmdline", "uvmtest=tick",
                          "--memory", "128", "--cpus", "1", "--api-sock", sock});
  ASSERT_TRUE(boot.started());
  ASSERT_TRUE(boot.WaitForOutput("UVMTEST tick 20", 300)) << boot.out();

  ProcessResult save = RunProcess({kUvm, "snapshot", "save", "--api-sock", sock, snap}, "", 300);
  EXPECT_EQ(save.exit_code, 0) << save.out << save.err;
  ProcessResult booted = boot.Wait(120);
  ASSERT_FALSE(booted.timed_out) << booted.out << booted.err;
  ASSERT_EQ(booted.exit_code, 0) << booted.err;
  EXPECT_NE(booted.err.find("saved to " + snap), std::string::npos) << booted.err;
  EXPECT_FALSE(std::filesystem::exists(sock)) << "the control socket outlived the VM";
  ASSERT_TRUE(ExistsAsFile(snap + "/state"));
  ASSERT_TRUE(ExistsAsFile(snap + "/memory"));
  const std::vector<long> before = Ticks(booted.out);
  ASSERT_GE(before.size(), 21u) << booted.out;
  const long last = before.back();

  // Shape and devices come from the snapshot; the guest goes on counting. This VM is saved again,
  // into the directory it was restored from (whose memory file it maps).
  BackgroundProcess restore({kUvm, "snapshot", "restore", snap, "--api-sock", sock});
  ASSERT_TRUE(restore.started());
  EXPECT_TRUE(restore.WaitForOutput("UVMTEST tick " + std::to_string(last + 20), 300))
      << restore.out();
  save = RunProcess({kUvm, "snapshot", "save", "--api-sock", sock, snap}, "", 300);
  EXPECT_EQ(save.exit_code, 0) << save.out << save.err;
  ProcessResult restored = restore.Wait(120);
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_NE(restored.err.find("saved to " + snap), std::string::npos) << restored.err;
  const std::vector<long> after = Ticks(restored.out);
  ASSERT_FALSE(after.empty()) << restored.out << restored.err;
  ExpectContinues(after, last, restored.out);

  {
    BackgroundProcess again({kUvm, "snapshot", "restore", snap});
    ASSERT_TRUE(again.started());
    EXPECT_TRUE(again.WaitForOutput("UVMTEST tick " + std::to_string(after.back() + 20), 300))
        << again.out();
    ::kill(again.pid(), SIGTERM);
    ProcessResult r = again.Wait(60);
    EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.err;
    ExpectContinues(Ticks(r.out), after.back(), r.out);
  }

  // The wrong shape or devices are refused before the guest runs.
  ExpectRefused(RunProcess({kUvm, "snapshot", "restore", snap, "--memory", "256"}, "", 120),
                "128 MiB");
  const std::string disk = work_ + "/disk.img";
  std::ofstream(disk).put('\0');
  std::filesystem::resize_file(disk, 1 << 20);
  ExpectRefused(RunProcess({kUvm, "snapshot", "restore", snap, "--disk", disk}, "", 120),
                "virtio devices");

  // A damaged state file: one byte flipped in the middle.
  {
    std::fstream f(snap + "/state", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const std::streamoff middle = f.tellg() / 2;
    f.seekg(middle);
    char c = 0;
    f.get(c);
    f.seekp(middle);
    f.put(static_cast<char>(c ^ 0x5a));
  }
  ExpectRefused(RunProcess({kUvm, "snapshot", "restore", snap}, "", 120), "state");
}

}  // namespace
