// e2e for the guest agent (ARCHITECTURE.md "The agent"): `uvm boot` with the agent initramfs, the
// container image (an ext4 filesystem holding a static busybox) as a read-only virtio-blk disk and
// vsock; the host agent client runs processes in it. One boot serves every test (boots are slow in
// the lab). Skipped (reported as not run) where this host's KVM cannot run Linux.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "runtime/agent/agent_client.h"
#include "runtime/agent/exec_identity.h"
#include "tests/e2e/linux_guests.h"
#include "tests/support/agent_memfiles.h"
#include "tests/support/background_process.h"

namespace {

using namespace std::chrono_literals;
using uvm::UniqueFd;
using uvm::testing::BackgroundProcess;
namespace agent = uvm::agent;

using uvm::testing::Ran;

class AgentE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!uvm::testing::LinuxGuestsRunHere()) return;
    // Not /tmp: in the lab that is the 9p share (no unix sockets, slow writes).
    char tmpl[] = "/run/uvm-agent-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new std::string(tmpl);
    const std::string image = *dir_ + "/image.ext4";
    std::string build =
        std::string(UVM_SOURCE_DIR) + "/tests/support/make-busybox-image.sh " + *dir_ + " " + image;
    ASSERT_EQ(system(build.c_str()), 0) << build;
    vm_ = new BackgroundProcess(
        {UVM_BINARY, "boot", "--kernel", std::string(UVM_IMAGES) + "/vmlinux", "--initrd",
         std::string(UVM_IMAGES) + "/agent-initramfs.cpio.gz", "--memory", "256", "--cpus", "2",
         "--vsock", *dir_ + "/vsock.sock", "--disk", image + ",ro"});
    ASSERT_TRUE(vm_->started());
  }
  static void TearDownTestSuite() {
    delete vm_;  // kills uvm
    vm_ = nullptr;
    if (dir_) {
      EXPECT_EQ(system(("rm -rf '" + *dir_ + "'").c_str()), 0);
    }
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    UVM_SKIP_UNLESS_LINUX_GUESTS();
    ASSERT_NE(vm_, nullptr);
    auto c = agent::AgentClient::Connect(agent::AgentAddress::Vsock(*dir_ + "/vsock.sock"), 300s);
    ASSERT_TRUE(c) << c.error().message << "\nconsole:\n" << vm_->out();
    client_.emplace(std::move(*c));
  }

  static agent::ExecRequest InContainer(std::vector<std::string> argv) {
    agent::ExecRequest r;
    r.argv = std::move(argv);
    r.rootfs = agent::Rootfs{"/dev/vda", "ext4", 32, {}};
    r.hostname = "uvm-e2e";
    return r;
  }
  Ran Run(const agent::ExecRequest& request, const std::string& input = "") {
    auto p = client_->Exec(request);
    EXPECT_TRUE(p) << p.error().message << "\nconsole:\n" << vm_->out();
    if (!p) return {};
    return uvm::testing::RelayThroughMemFiles(*p, input, 120s);
  }

  static inline std::string* dir_ = nullptr;
  static inline BackgroundProcess* vm_ = nullptr;
  std::optional<agent::AgentClient> client_;
};

TEST_F(AgentE2eTest, ContainerRunsAsPid1OfItsNamespacesInTheImage) {
  Ran r = Run(InContainer(
      {"/bin/sh", "-c", "echo pid=$$; hostname; ls /; echo err >&2; cat /proc/1/cmdline; exit 7"}));
  EXPECT_EQ(r.exit.exit_code, 7) << r.exit.message << r.err;
  EXPECT_NE(r.out.find("pid=1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("uvm-e2e\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bin"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("init"), std::string::npos) << "the agent's root is visible: " << r.out;
  EXPECT_EQ(r.err, "err\n");
}

TEST_F(AgentE2eTest, OverlayIsWritableAndEachExecStartsFromTheImage) {
  Ran r = Run(InContainer({"/bin/sh", "-c", "echo data > /bin/new && cat /bin/new"}));
  EXPECT_EQ(r.exit.exit_code, 0) << r.exit.message << r.err;
  EXPECT_EQ(r.out, "data\n");
  r = Run(InContainer({"/bin/sh", "-c", "test -e /bin/new && echo leaked || echo clean"}));
  EXPECT_EQ(r.out, "clean\n");
}

TEST_F(AgentE2eTest, ExecFailuresAndSignalsMapToShellCodes) {
  EXPECT_EQ(agent::ShellExitCode(Run(InContainer({"no-such-tool"})).exit), 127);
  EXPECT_EQ(agent::ShellExitCode(Run(InContainer({"/etc/passwd"})).exit), 126);
  auto p = client_->Exec(InContainer({"sleep", "100"}));
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_TRUE(p->Signal(SIGKILL));
  ASSERT_TRUE(agent::RelayStdio(*p, -1, STDOUT_FILENO, STDERR_FILENO));
  auto exit = p->WaitExit(60s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->signal, 9);
  agent::ExecRequest as_nobody = InContainer({"id", "-u"});
  as_nobody.user = "nobody";
  EXPECT_EQ(Run(as_nobody).out, "65534\n");
}

// The clone identity path (guest-agent/identity.cc) on a cold boot: the clock is stepped to what
// the request says (10 days ahead here, which a kvmclock-synced guest would never show by
// itself, then back), and the host's entropy is credited and the CRNG reseeded without error.
TEST_F(AgentE2eTest, ExecSetsTheGuestClockAndReseedsItsRandomNumbers) {
  constexpr uint64_t kTenDays = 10ull * 86400;
  agent::ExecRequest ahead = InContainer({"date", "+%s"});
  ASSERT_TRUE(agent::StampIdentity(ahead));
  const uint64_t host_s = ahead.realtime_ns / 1'000'000'000;
  ahead.realtime_ns += kTenDays * 1'000'000'000;
  Ran r = Run(ahead);
  ASSERT_EQ(r.exit.exit_code, 0) << r.exit.message << r.err;
  const uint64_t guest_s = std::stoull(r.out);
  EXPECT_GE(guest_s, host_s + kTenDays) << r.out;
  EXPECT_LE(guest_s, host_s + kTenDays + 120) << r.out;

  agent::ExecRequest now = InContainer({"date", "+%s"});
  ASSERT_TRUE(agent::StampIdentity(now));
  r = Run(now);
  ASSERT_EQ(r.exit.exit_code, 0) << r.exit.message << r.err;
  EXPECT_LE(std::stoull(r.out), now.realtime_ns / 1'000'000'000 + 120) << r.out;
  // A failed RNDRESEEDCRNG is only a warning on the console: there must be none.
  EXPECT_EQ(vm_->out().find("RNDRESEEDCRNG"), std::string::npos) << vm_->out();
}

TEST_F(AgentE2eTest, FourMebibytesThroughCat) {
  std::string data(4 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131 + i / 977) & 0xff);
  Ran r = Run(InContainer({"cat"}), data);
  EXPECT_EQ(r.exit.exit_code, 0) << r.exit.message;
  ASSERT_EQ(r.out.size(), data.size());
  EXPECT_TRUE(r.out == data);
}

}  // namespace
