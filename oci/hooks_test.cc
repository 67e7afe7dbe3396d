#include "oci/hooks.h"

#include <gtest/gtest.h>

#include "base/fs.h"

namespace uvm::oci {
namespace {

using nlohmann::json;

Hook Shell(const std::string& script) { return Hook{"/bin/sh", {"sh", "-c", script}, {}, 0}; }

TEST(HooksTest, ParsedWithTypedChecksAndBackAgain) {
  auto hooks = ParseHooks(json::parse(R"({
    "prestart": [{"path": "/usr/bin/a", "args": ["a", "x"], "env": ["K=V"], "timeout": 5}],
    "createRuntime": [{"path": "/usr/bin/b"}],
    "poststart": [], "poststop": [{"path": "/usr/bin/c", "env": []}],
    "createContainer": []})"));
  ASSERT_TRUE(hooks) << hooks.error().message;
  ASSERT_EQ(hooks->prestart.size(), 1u);
  EXPECT_EQ(hooks->prestart[0].args, (std::vector<std::string>{"a", "x"}));
  EXPECT_EQ(hooks->prestart[0].env, (std::vector<std::string>{"K=V"}));
  EXPECT_EQ(hooks->prestart[0].timeout_seconds, 5);
  EXPECT_FALSE(hooks->create_runtime[0].env) << "no env means the runtime's, not an empty one";
  EXPECT_TRUE(hooks->poststop[0].env && hooks->poststop[0].env->empty());
  auto back = ParseHooks(HooksJson(*hooks));
  ASSERT_TRUE(back);
  EXPECT_EQ(HooksJson(*back), HooksJson(*hooks));
  EXPECT_TRUE(ParseHooks(json())->empty());

  auto refused = [](const char* text, const char* why) {
    auto r = ParseHooks(json::parse(text));
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
  };
  refused(R"({"prestart": [{"path": "relative"}]})", "not absolute");
  refused(R"({"prestart": [{"args": ["x"]}]})", "path");
  refused(R"({"prestart": {"path": "/x"}})", "must be an array");
  refused(R"({"poststop": [{"path": "/x", "timeout": 0}]})", "timeout");
  refused(R"({"poststop": [{"path": "/x", "args": [1]}]})", "args");
  refused(R"({"startContainer": [{"path": "/x"}]})", "inside its VM");
  refused(R"({"prestartish": []})", "unknown hook stage");
  refused(R"([])", "must be an object");
  json many = {{"prestart", json::array()}};
  for (size_t i = 0; i <= kMaxHooks; ++i) many["prestart"].push_back({{"path", "/x"}});
  EXPECT_FALSE(ParseHooks(many));
}

class HookRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("/tmp", "uvm-hooks-test-");
    ASSERT_TRUE(d);
    dir_.emplace(std::move(*d));
  }
  std::string Read(const std::string& name) {
    return ReadFileLimited(dir_->path() + "/" + name, 1 << 20).value_or("<missing>");
  }
  std::optional<TempDir> dir_;
};

// The state arrives whole on stdin, args and env as given (argv[0] included).
TEST_F(HookRunTest, AHookGetsTheStateOnStdinWithItsArgsAndEnv) {
  Hook hook = Shell("cat > \"$0\"/state; echo \"$1 $K\" > \"$0\"/args");
  hook.args.push_back(dir_->path());
  hook.args.push_back("one");
  hook.env = std::vector<std::string>{"K=V"};
  const std::string state(200000, 's');  // more than a socket buffer holds at once
  ASSERT_TRUE(RunHook(hook, state));
  EXPECT_EQ(Read("state"), state);
  EXPECT_EQ(Read("args"), "one V\n");
}

TEST_F(HookRunTest, FailuresSayHowAndStopTheStage) {
  auto failed = RunHooks({Shell("echo broken >&2; exit 3"), Shell("touch /should-not-run")},
                         "prestart", "{}");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "prestart hook 0 (/bin/sh): exit status 3: broken");
  auto killed = RunHook(Shell("kill -9 $$"), "{}");
  ASSERT_FALSE(killed);
  EXPECT_EQ(killed.error().message, "killed by signal 9");
  auto missing = RunHook(Hook{"/nonexistent/hook", {}, {}, 0}, "{}");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("No such file"), std::string::npos)
      << missing.error().message;
}

// A hook that never reads its stdin does not hang or kill the runtime; one that outlives its
// timeout is killed.
TEST_F(HookRunTest, HooksThatIgnoreStdinOrHangAreHandled) {
  EXPECT_TRUE(RunHook(Shell("exec </dev/null; true"), std::string(1 << 20, 'x')));
  Hook slow = Shell("exec sleep 30");
  slow.timeout_seconds = 1;
  auto r = RunHook(slow, "{}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "timed out after 1 s");
}

}  // namespace
}  // namespace uvm::oci
