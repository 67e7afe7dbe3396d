#include "runtime/exec_spec.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "runtime/template_shape.h"
#include "runtime/template_store.h"

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

TEST(ExecSpecTest, SharesBecomeTheRootAndVolumesInDeviceOrder) {
  ContainerShares shares;
  shares.rootfs_dir = "/srv/root";
  shares.volumes = {{"/srv/a", "/a", false}, {"/srv/b", "/b/c", true}};
  auto configs = ShareConfigs(shares);
  ASSERT_EQ(configs.size(), 3u);
  EXPECT_EQ(configs[0].host_dir, "/srv/root");
  EXPECT_FALSE(configs[0].read_only);
  EXPECT_EQ(configs[2].host_dir, "/srv/b");
  EXPECT_TRUE(configs[2].read_only);
  auto exec = MakeExecRequest("x", Image(), {}, Env({}));
  ASSERT_TRUE(exec);
  UseShares(shares, *exec);
  ASSERT_TRUE(exec->rootfs);
  EXPECT_EQ(exec->rootfs->device, "uvmfs0");
  EXPECT_EQ(exec->rootfs->fstype, "virtiofs");
  ASSERT_EQ(exec->rootfs->volumes.size(), 2u);
  EXPECT_EQ(exec->rootfs->volumes[1].tag, "uvmfs2");
  EXPECT_EQ(exec->rootfs->volumes[1].target, "/b/c");
  EXPECT_TRUE(exec->rootfs->volumes[1].read_only);
  // Without a rootfs directory the image stays the root and the volumes count from 0.
  ContainerShares volumes_only;
  volumes_only.volumes = {{"/srv/a", "/a", false}};
  exec = MakeExecRequest("x", Image(), {}, Env({}));
  UseShares(volumes_only, *exec);
  EXPECT_EQ(exec->rootfs->device, "/dev/vda");
  EXPECT_EQ(exec->rootfs->volumes[0].tag, "uvmfs0");
}

TEST(ExecSpecTest, TheShapeCarriesItsShareCount) {
  TemplateShape shape = BuiltinTemplateShape(256, 1);
  shape.kernel = "/k";
  shape.initrd = "/i";
  shape.shares = 3;
  auto back = ShapeFromJson(ShapeToJson(shape));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->shares, 3);
  auto j = ShapeToJson(shape);
  j["shares"] = kMaxShares + 1;
  EXPECT_FALSE(ShapeFromJson(j));
  j.erase("shares");
  EXPECT_EQ(ShapeFromJson(j)->shares, 0);  // templates from before shares
  auto spec = ContainerVmSpec(shape, "/t");
  ASSERT_EQ(spec.shares.size(), 3u);
  EXPECT_EQ(spec.shares[2].tag, "uvmfs2");
  EXPECT_TRUE(spec.shares[2].config.host_dir.empty());  // unbound until a clone binds it
  EXPECT_EQ(spec.disks.size(), 1u);                     // the template's kept placeholder
}

}  // namespace
}  // namespace uvm::runtime
