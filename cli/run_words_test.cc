#include "cli/run_words.h"

#include <gtest/gtest.h>

namespace uvm::cli {
namespace {

using Words = std::vector<std::string>;

class RunWordsTest : public ::testing::Test {
 protected:
  RunWordsTest() : line_("test") {
    Command& root = line_.root();
    root.Flag("-v,--verbose", verbose_, "").Option("--root", root_dir_, "");
    run_ = root.Sub("run", "");
    run_.Flag("-i", flag_, "").Option("-e,--env", env_, "").Option("--memory", memory_, "");
    run_.Option("image", image_, "");
    root.Sub("image", "");
  }
  // The words the parser sees and the container's command.
  std::pair<Words, Words> Split(Words args) {
    Words command = SplitRunCommand(line_.root(), run_, args);
    return {args, command};
  }
  CommandLine line_;
  Command run_ = line_.root();
  bool verbose_ = false, flag_ = false;
  std::string root_dir_, image_;
  std::vector<std::string> env_;
  uint64_t memory_ = 0;
};

TEST_F(RunWordsTest, TheCommandsOwnOptionsStayItsOwn) {
  auto [parsed, command] = Split({"run", "busybox", "sh", "-c", "echo -e x"});
  EXPECT_EQ(parsed, (Words{"run", "busybox"}));
  EXPECT_EQ(command, (Words{"sh", "-c", "echo -e x"}));
}

TEST_F(RunWordsTest, OptionsBeforeTheImageAndTheirValuesAreParsed) {
  auto [parsed, command] =
      Split({"-v", "--root", "/r", "run", "-i", "-e", "A=1", "--memory", "128", "img", "ls", "-l"});
  EXPECT_EQ(parsed,
            (Words{"-v", "--root", "/r", "run", "-i", "-e", "A=1", "--memory", "128", "img"}));
  EXPECT_EQ(command, (Words{"ls", "-l"}));
  auto attached = Split({"run", "-eA=1", "--memory=64", "img", "true"});
  EXPECT_EQ(attached.first, (Words{"run", "-eA=1", "--memory=64", "img"}));
  EXPECT_EQ(attached.second, (Words{"true"}));
}

TEST_F(RunWordsTest, DoubleDashesAroundTheImageAreDropped) {
  auto before = Split({"run", "--", "img", "x"});
  EXPECT_EQ(before.first, (Words{"run", "img"}));
  EXPECT_EQ(before.second, (Words{"x"}));
  auto after = Split({"run", "img", "--", "--rm"});
  EXPECT_EQ(after.first, (Words{"run", "img"}));
  EXPECT_EQ(after.second, (Words{"--rm"}));
}

TEST_F(RunWordsTest, OtherCommandsAndNoImageAreLeftAlone) {
  auto other = Split({"image", "ls"});
  EXPECT_EQ(other.first, (Words{"image", "ls"}));
  EXPECT_TRUE(other.second.empty());
  auto none = Split({"run", "-i"});
  EXPECT_EQ(none.first, (Words{"run", "-i"}));
  EXPECT_TRUE(none.second.empty());
}

}  // namespace
}  // namespace uvm::cli
