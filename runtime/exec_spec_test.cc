#include "runtime/exec_spec.h"

#include <gtest/gtest.h>

#include <map>

namespace uvm::runtime {
namespace {

HostEnv Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

store::ImageConfig Image() {
  store::ImageConfig c;
  c.entrypoint = {"/entry"};
  c.cmd = {"default", "args"};
  c.env = {"PATH=/bin", "A=image"};
  c.working_dir = "/work";
  c.user = "daemon";
  return c;
}

TEST(ExecSpecTest, ArgumentsReplaceCmdAndTheEntrypointStays) {
  auto same = MakeExecRequest("img", Image(), {}, Env({}));
  ASSERT_TRUE(same);
  EXPECT_EQ(same->argv, (std::vector<std::string>{"/entry", "default", "args"}));
  ExecOverrides o;
  o.command = {"other"};
  auto replaced = MakeExecRequest("img", Image(), o, Env({}));
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced->argv, (std::vector<std::string>{"/entry", "other"}));
}

TEST(ExecSpecTest, NoCommandAtAllIsRefusedNamingTheImage) {
  auto r = MakeExecRequest("empty", store::ImageConfig{}, {}, Env({}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("empty has no Entrypoint or Cmd"), std::string::npos);
}

TEST(ExecSpecTest, EnvFlagsSetOrCopyAndABareUnknownNameIsLeftOut) {
  ExecOverrides o;
  o.env = {"A=flag", "B=new", "HOME", "MISSING"};
  auto r = MakeExecRequest("img", Image(), o, Env({{"HOME", "/root"}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->env, (std::vector<std::string>{"PATH=/bin", "A=flag", "B=new", "HOME=/root"}));
}

TEST(ExecSpecTest, WorkdirAndUserFallBackToTheImageThenDefaults) {
  auto image = MakeExecRequest("img", Image(), {}, Env({}));
  ASSERT_TRUE(image);
  EXPECT_EQ(image->cwd, "/work");
  EXPECT_EQ(image->user, "daemon");
  ExecOverrides o;
  o.workdir = "/tmp";
  o.user = "1000:1000";
  auto flags = MakeExecRequest("img", Image(), o, Env({}));
  ASSERT_TRUE(flags);
  EXPECT_EQ(flags->cwd, "/tmp");
  EXPECT_EQ(flags->user, "1000:1000");
  store::ImageConfig bare;
  bare.cmd = {"sh"};
  auto defaults = MakeExecRequest("img", bare, {}, Env({}));
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->cwd, "/");
  EXPECT_EQ(defaults->user, "");
}

TEST(ExecSpecTest, TheRootIsTheImageDiskAndATerminalKeepsItsSize) {
  ExecOverrides o;
  o.tty = true;
  o.rows = 50;
  o.cols = 132;
  auto r = MakeExecRequest("img", Image(), o, Env({}));
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->rootfs);
  EXPECT_EQ(r->rootfs->device, "/dev/vda");
  EXPECT_TRUE(r->tty);
  EXPECT_EQ(r->rows, 50);
  EXPECT_EQ(r->cols, 132);
  EXPECT_FALSE(r->network);
}

}  // namespace
}  // namespace uvm::runtime
