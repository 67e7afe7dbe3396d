// e2e for clones (issue 5): `uvm run` starts each container as a copy-on-write clone of a template
// (a utility VM booted once to agent-ready and saved). The rest of `uvm run`'s behaviour is checked
// by run_e2e_test.cc, which now runs over a template too; these tests check what is clone-specific:
// many clones of one template at once, each with its own identity, randomness and files, and a
// template that no clone changes. Skipped (reported as not run) where this host's KVM cannot run
// Linux.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/sha256.h"
#include "tests/e2e/linux_guests.h"
#include "tests/support/background_process.h"
#include "tests/support/process.h"
#include "tests/support/scratch_root.h"

namespace {

using uvm::testing::BackgroundProcess;
using uvm::testing::Lines;
using uvm::testing::ProcessResult;
using uvm::testing::RunProcess;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class CloneE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { root_ = uvm::testing::MakeScratchRoot("clone-e2e"); }
  static void TearDownTestSuite() { uvm::testing::RemoveScratchRoot(root_); }
  void SetUp() override {
    UVM_SKIP_UNLESS_LINUX_GUESTS();
    ASSERT_FALSE(root_.empty());
    // The template `uvm run busybox` clones (the default shape, prepared for busybox); `template
    // create` prints its key.
    ProcessResult r = RunProcess(
        {UVM_BINARY, "--root", root_, "template", "create", "--image", "busybox"}, "", 240);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    key_ = r.out.substr(0, 16);
    memory_ = root_ + "/templates/" + key_ + "/memory";
    ASSERT_EQ(access(memory_.c_str(), R_OK), 0) << r.out;
  }
  std::vector<std::string> Argv(const std::vector<std::string>& run_args) {
    std::vector<std::string> argv = {UVM_BINARY, "-v", "--root", root_, "run"};
    argv.insert(argv.end(), run_args.begin(), run_args.end());
    return argv;
  }
  // uvm -v says how the VM started; a run that fell back to a boot, or cloned another template
  // than the one whose memory the test watches, is not what the test is about.
  void ExpectCloned(const ProcessResult& r) const {
    EXPECT_NE(r.err.find("machine restored from " + root_ + "/templates/" + key_),
              std::string::npos)
        << r.err;
  }

  static std::string root_;
  std::string key_;
  std::string memory_;
};
std::string CloneE2eTest::root_;

TEST_F(CloneE2eTest, TwentyClonesAtOnceEachWithItsOwnOutputRandomnessAndName) {
  const std::string before = uvm::Sha256Hex(ReadFile(memory_));
  constexpr int kClones = 20;
  std::vector<std::unique_ptr<BackgroundProcess>> runs;
  for (int i = 0; i < kClones; ++i) {
    // Its own command; 16 bytes from the kernel's CRNG; the clone's name (uvm run gives each
    // container a hostname of its own).
    const std::string script = "echo clone-" + std::to_string(i) +
                               "; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; "
                               "hostname";
    runs.push_back(std::make_unique<BackgroundProcess>(Argv({"busybox", "sh", "-c", script})));
    ASSERT_TRUE(runs.back()->started());
  }
  std::set<std::string> randoms, names;
  for (int i = 0; i < kClones; ++i) {
    ProcessResult r = runs[i]->Wait(400);
    ASSERT_FALSE(r.timed_out) << "clone " << i << ": " << r.err;
    ASSERT_EQ(r.exit_code, 0) << "clone " << i << ": " << r.err;
    ExpectCloned(r);
    const std::vector<std::string> lines = Lines(r.out);
    ASSERT_EQ(lines.size(), 3u) << r.out;
    EXPECT_EQ(lines[0], "clone-" + std::to_string(i));
    EXPECT_EQ(lines[1].size(), 32u) << lines[1];
    randoms.insert(lines[1]);
    names.insert(lines[2]);
  }
  EXPECT_EQ(randoms.size(), static_cast<size_t>(kClones)) << "two clones drew the same bytes";
  EXPECT_EQ(names.size(), static_cast<size_t>(kClones)) << "two clones share a hostname";
  // Every clone's writes went to its own private pages.
  EXPECT_EQ(uvm::Sha256Hex(ReadFile(memory_)), before);
}

TEST_F(CloneE2eTest, AFileWrittenInOneCloneIsNotInAnotherTheClockIsNowAndTheImageIsPrepared) {
  // The template's clock must be visibly old for the clock check to mean anything.
  struct stat st {};
  ASSERT_EQ(stat(memory_.c_str(), &st), 0);
  const long age = static_cast<long>(time(nullptr)) - static_cast<long>(st.st_mtime);
  if (age < 10) sleep(static_cast<unsigned>(10 - age));
  // The first clone writes a file and stays up while the second looks for it.
  BackgroundProcess writer(
      Argv({"busybox", "sh", "-c", "echo secret > /probe && echo written && sleep 20"}));
  ASSERT_TRUE(writer.WaitForOutput("written", 240)) << writer.out();
  // The third line: the container's root overlay, whose lower layer is the image the template
  // mounted and read (guest-agent/image_cache.h), not a mount of the clone's own.
  ProcessResult r = RunProcess(Argv({"busybox", "sh", "-c",
                                     "test -e /probe && echo present || echo absent; date +%s; "
                                     "grep -o 'lowerdir=[^,]*' /proc/mounts | head -1"}),
                               "", 240);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectCloned(r);
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[0], "absent");
  EXPECT_EQ(lines[2], "lowerdir=/run/uvm-agent/images/image-0") << r.out;
  // A clone starts with the template's clock; the agent sets it from the host's.
  const long guest_now = std::stol(lines[1]);
  EXPECT_LE(std::labs(guest_now - static_cast<long>(time(nullptr))), 5) << r.out;
  ProcessResult w = writer.Wait(240);
  EXPECT_EQ(w.exit_code, 0) << w.err;
}

}  // namespace
