#include "guest-agent/command_check.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "base/fs.h"

namespace uvm::agent {
namespace {

class CommandCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/uvm-command-check-XXXXXX";
    root_ = mkdtemp(dir);
    mkdir((root_ + "/bin").c_str(), 0755);
    mkdir((root_ + "/etc").c_str(), 0755);
    std::ofstream(root_ + "/bin/tool") << "#!/bin/sh\n";
    chmod((root_ + "/bin/tool").c_str(), 0755);
    std::ofstream(root_ + "/etc/passwd") << "root:x:0:0::/:/bin/sh\n";
    // A symlink out of the root is looked up inside it, as in a chroot.
    symlink("/bin/sh", (root_ + "/bin/escape").c_str());
  }
  void TearDown() override { (void)RemoveTree(root_); }
  std::optional<CommandProblem> Check(std::vector<std::string> argv,
                                      std::vector<std::string> opaque = {}) {
    ExecRequest r;
    r.argv = std::move(argv);
    r.env = {"PATH=/usr/bin:/bin"};
    auto plan = PlanSpawn(r);
    EXPECT_TRUE(plan);
    return CheckCommand(root_, *plan, opaque);
  }
  std::string root_;
};

TEST_F(CommandCheckTest, FindsAnExecutableInThePathOrByItsPath) {
  EXPECT_FALSE(Check({"tool"}));
  EXPECT_FALSE(Check({"/bin/tool", "arg"}));
}

TEST_F(CommandCheckTest, AMissingCommandIs127AndANonExecutableOne126) {
  const struct {
    const char* command;
    int status;
    const char* message;
  } cases[] = {
      {"no-such-tool", 127, "'no-such-tool': executable file not found in $PATH"},
      {"/bin/nothing", 127, "'/bin/nothing': no such file or directory"},
      {"/etc/passwd", 126, "cannot execute '/etc/passwd': Permission denied"},
      {"/bin", 126, "cannot execute '/bin': Permission denied"},
  };
  for (const auto& c : cases) {
    auto problem = Check({c.command});
    ASSERT_TRUE(problem) << c.command;
    EXPECT_EQ(problem->status, c.status) << c.command;
    EXPECT_EQ(problem->message, c.message);
  }
}

TEST_F(CommandCheckTest, ASymlinkResolvesInsideTheRootAndAVolumeIsLeftToTheRuntime) {
  // /bin/escape -> /bin/sh, which this root does not have (the host's would be found).
  auto escape = Check({"/bin/escape"});
  ASSERT_TRUE(escape);
  EXPECT_EQ(escape->status, 127);
  EXPECT_FALSE(Check({"/data/run.sh"}, {"/data"})) << "below a volume only the runtime can tell";
}

}  // namespace
}  // namespace uvm::agent
