// e2e for `uvm pool` (issue 5's pool): a long-lived process keeps clones restored ahead of time and
// lends them to `uvm run`. What must hold: a pooled run behaves like any run (output, exit code,
// stdin) in a fresh clone of its own (its own name, randomness and files); a client that dies
// gives its VM back; a re-imported image is never served from VMs of the old one; without a pool
// `uvm run` clones by itself. Skipped (reported as not run) where this host's KVM cannot run Linux.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
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
using uvm::testing::Lines;
using uvm::testing::ProcessResult;
using uvm::testing::RunProcess;

class PoolE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { root_ = uvm::testing::MakeScratchRoot("pool-e2e"); }
  static void TearDownTestSuite() {
    if (!root_.empty()) (void)RunProcess({UVM_BINARY, "--root", root_, "pool", "stop"}, "", 60);
    uvm::testing::RemoveScratchRoot(root_);
  }
  void SetUp() override {
    UVM_SKIP_UNLESS_LINUX_GUESTS();
    ASSERT_FALSE(root_.empty());
  }
  void TearDown() override {
    // Each test starts its own pool; none outlives it.
    (void)RunProcess({UVM_BINARY, "--root", root_, "pool", "stop"}, "", 60);
  }
  ProcessResult Uvm(const std::vector<std::string>& args, const std::string& stdin_data = "") {
    std::vector<std::string> argv = {UVM_BINARY, "-v", "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult r = RunProcess(argv, stdin_data, 300);
    EXPECT_FALSE(r.timed_out) << "uvm timed out; stderr: " << r.err;
    return r;
  }
  std::vector<std::string> RunArgv(const std::vector<std::string>& run_args) {
    std::vector<std::string> argv = {UVM_BINARY, "-v", "--root", root_, "run"};
    argv.insert(argv.end(), run_args.begin(), run_args.end());
    return argv;
  }
  nlohmann::json Status() {
    ProcessResult r = Uvm({"pool", "status", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << r.out;
    return j;
  }
  // The one shape's counter `field` (the tests serve one image at a time).
  int64_t Count(const std::string& field) {
    nlohmann::json j = Status();
    if (!j.is_object() || !j["shapes"].is_array() || j["shapes"].size() != 1) return -1;
    return j["shapes"][0][field].get<int64_t>();
  }
  // Waits (up to 60 s) until the pool has `n` VMs ready: a run that finds none clones by itself,
  // and the tests count what the pool served.
  void WaitReady(int n) {
    for (int i = 0; i < 300 && Count("ready") < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ASSERT_GE(Count("ready"), n) << Status().dump();
  }
  // uvm -v names the pool's VM a run got.
  static bool Pooled(const ProcessResult& r) {
    return r.err.find("run: pooled VM pool-vm-") != std::string::npos;
  }

  static std::string root_;
};
std::string PoolE2eTest::root_;

TEST_F(PoolE2eTest, PooledRunsBehaveLikeRunsEachInAFreshCloneOfItsOwn) {
  ProcessResult started = Uvm({"pool", "start", "--size", "2", "busybox"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  EXPECT_NE(started.out.find("pool started"), std::string::npos) << started.out;
  EXPECT_EQ(Count("ready"), 2);
  // A second pool for the same root is refused while the first runs.
  ProcessResult again = Uvm({"pool", "start"});
  EXPECT_EQ(again.exit_code, 125);
  EXPECT_NE(again.err.find("already running"), std::string::npos) << again.err;

  std::set<std::string> names, randoms;
  for (int i = 0; i < 3; ++i) {
    WaitReady(1);
    // A file left by an earlier run would show in `ls /tmp`: each run must start from the template.
    ProcessResult r = Uvm({"run", "busybox", "sh", "-c",
                           "ls /tmp; echo run-" + std::to_string(i) +
                               " > /tmp/mark; hostname; head -c 16 /dev/urandom | od -An -tx1 | "
                               "tr -d ' \\n'; echo"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(Pooled(r)) << r.err;
    const std::vector<std::string> lines = Lines(r.out);
    ASSERT_EQ(lines.size(), 2u) << "run " << i << ": " << r.out;
    names.insert(lines[0]);
    randoms.insert(lines[1]);
  }
  EXPECT_EQ(names.size(), 3u) << "two pooled runs share a hostname";
  EXPECT_EQ(randoms.size(), 3u) << "two pooled runs drew the same random bytes";

  // Exit codes, stdin and stderr pass through as in any run.
  WaitReady(1);
  ProcessResult code = Uvm({"run", "busybox", "sh", "-c", "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(code.exit_code, 7) << code.err;
  EXPECT_EQ(code.out, "out\n");
  EXPECT_NE(code.err.find("err\n"), std::string::npos) << code.err;
  EXPECT_TRUE(Pooled(code)) << code.err;
  WaitReady(1);
  ProcessResult cat = Uvm({"run", "-i", "busybox", "cat"}, "through stdin\n");
  EXPECT_TRUE(Pooled(cat)) << cat.err;
  EXPECT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_EQ(cat.out, "through stdin\n");
  EXPECT_EQ(Count("served"), 5) << Status().dump();

  // --no-pool and --cold never take a pooled VM.
  ProcessResult own = Uvm({"run", "--no-pool", "busybox", "echo", "own"});
  EXPECT_EQ(own.out, "own\n") << own.err;
  EXPECT_FALSE(Pooled(own)) << own.err;
  EXPECT_EQ(Count("served"), 5);
}

TEST_F(PoolE2eTest, AClientThatDiesGivesItsVmBackAndStopEndsThePool) {
  ProcessResult started = Uvm({"pool", "start", "--size", "1", "busybox"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  BackgroundProcess client(RunArgv({"busybox", "sh", "-c", "echo up; sleep 60"}));
  ASSERT_TRUE(client.WaitForOutput("up\n", 120));
  EXPECT_EQ(Count("in_use"), 1);
  ::kill(client.pid(), SIGKILL);
  (void)client.Wait(30);
  // The lease was the client's connection: the pool stops the VM and makes another.
  int64_t in_use = -1, ready = -1;
  for (int i = 0; i < 300 && !(in_use == 0 && ready == 1); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    in_use = Count("in_use");
    ready = Count("ready");
  }
  EXPECT_EQ(in_use, 0);
  EXPECT_EQ(ready, 1);

  ProcessResult stopped = Uvm({"pool", "stop"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_NE(stopped.out.find("stopped"), std::string::npos) << stopped.out;
  ProcessResult status = Uvm({"pool", "status"});
  EXPECT_EQ(status.exit_code, 125);
  EXPECT_NE(status.err.find("no pool is running"), std::string::npos) << status.err;
  // Without a pool, a run clones the template by itself.
  ProcessResult alone = Uvm({"run", "busybox", "echo", "alone"});
  EXPECT_EQ(alone.exit_code, 0) << alone.err;
  EXPECT_EQ(alone.out, "alone\n");
  EXPECT_FALSE(Pooled(alone)) << alone.err;
}

TEST_F(PoolE2eTest, AReimportedImageIsNeverServedFromVmsOfTheOldOne) {
  // Two root filesystems under one name: busybox, then a directory holding the host's static
  // busybox and a file that says which one it is.
  ProcessResult first = Uvm({"image", "import", UVM_IMAGES "/busybox-rootfs.tar", "swap"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ProcessResult started = Uvm({"pool", "start", "--size", "1", "swap"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  ProcessResult before =
      Uvm({"run", "swap", "/bin/sh", "-c", "cat /which 2>/dev/null || echo old"});
  EXPECT_EQ(before.out, "old\n") << before.err;
  EXPECT_TRUE(Pooled(before)) << before.err;

  const std::string dir = root_ + "/swap-rootfs";
  ASSERT_EQ(::system(("mkdir -p " + dir + "/bin && cp /bin/busybox " + dir +
                      "/bin/busybox && ln -sf busybox " + dir + "/bin/sh && ln -sf busybox " + dir +
                      "/bin/cat && echo new > " + dir + "/which")
                         .c_str()),
            0);
  ProcessResult second = Uvm({"image", "import", dir, "swap"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  ProcessResult after = Uvm({"run", "swap", "/bin/sh", "-c", "cat /which 2>/dev/null || echo old"});
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(after.out, "new\n") << after.err;
  EXPECT_FALSE(Pooled(after)) << after.err;
}

TEST_F(PoolE2eTest, ARunWithAVolumeIsLentAVmBoundToItsOwnDirectory) {
  const std::string dirs = uvm::testing::MakeScratchRoot("pool-e2e-volumes");
  ASSERT_FALSE(dirs.empty());
  for (const char* d : {"/a", "/b"}) {
    ASSERT_EQ(mkdir((dirs + d).c_str(), 0755), 0);
    std::ofstream(dirs + d + "/which") << d;
  }
  ProcessResult started = Uvm({"pool", "start", "--size", "1", "busybox"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  // The first run of a shape with a share is not served (the pool has not seen the shape): it
  // clones by itself, and the pool starts making VMs of that shape, their shares unbound.
  ProcessResult first = Uvm({"run", "-v", dirs + "/a:/data", "busybox", "cat", "/data/which"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, "/a");
  EXPECT_FALSE(Pooled(first)) << first.err;
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    nlohmann::json j = Status();
    ready = j.is_object() && j["shapes"].is_array() && j["shapes"].size() == 2;
    for (const auto& shape : j["shapes"]) ready = ready && shape["ready"].get<int64_t>() >= 1;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(ready) << Status().dump();
  // The lent VM is bound to this run's directory, not the first run's.
  ProcessResult pooled = Uvm({"run", "-v", dirs + "/b:/data", "busybox", "sh", "-c",
                              "cat /data/which; echo pooled > /data/written"});
  ASSERT_EQ(pooled.exit_code, 0) << pooled.err;
  EXPECT_TRUE(Pooled(pooled)) << pooled.err;
  EXPECT_EQ(pooled.out, "/b");
  EXPECT_EQ(uvm::ReadFileLimited(dirs + "/b/written", 64).value_or(""), "pooled\n");
  EXPECT_NE(access((dirs + "/a/written").c_str(), F_OK), 0);
  uvm::testing::RemoveScratchRoot(dirs);
}

}  // namespace
