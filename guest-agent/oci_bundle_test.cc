#include "guest-agent/oci_bundle.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace uvm::agent {
namespace {

std::string TempDir() {
  char dir[] = "/tmp/uvm-bundle-test-XXXXXX";
  return mkdtemp(dir);
}

TEST(BundleRunTest, WritesTheConfigRunsCrunOnItAndCleansUp) {
  const std::string tmp = TempDir();
  const std::string dir = tmp + "/run/bundle-c7";
  OciBundle bundle{
      {{"uvmfs0", false}}, R"({"ociVersion":"1.0.2","process":{"args":["sh"]}})", "c7", ""};
  {
    auto run = BundleRun::Prepare(bundle, dir, tmp + "/shares", false);
    ASSERT_TRUE(run) << run.error().message;
    std::ifstream in(dir + "/config.json");
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), bundle.config);
    EXPECT_EQ(run->Argv(), (std::vector<std::string>{kCrunPath, "--cgroup-manager=cgroupfs", "run",
                                                     "--bundle", dir, "c7"}));
    BundleRun moved(std::move(*run));
  }
  struct stat st;
  EXPECT_NE(stat(dir.c_str(), &st), 0) << "the bundle directory outlived its run";
  rmdir((tmp + "/run").c_str());
  rmdir(tmp.c_str());
}

TEST(BundleRunTest, AnExecWritesTheProcessAndRunsCrunExecInTheNamedContainer) {
  const std::string tmp = TempDir();
  const std::string dir = tmp + "/bundle-9";
  OciBundle exec{{}, "", "uvm", R"({"args":["ps"]})"};
  auto not_yet = BundleRun::Prepare(exec, dir, tmp + "/shares", false, tmp + "/crun",
                                    std::chrono::milliseconds(50));
  ASSERT_FALSE(not_yet) << "an exec before crun has the container";
  EXPECT_NE(not_yet.error().message.find("not running"), std::string::npos);
  mkdir((tmp + "/crun").c_str(), 0755);
  mkdir((tmp + "/crun/uvm").c_str(), 0755);
  std::ofstream(tmp + "/crun/uvm/status") << "running";
  {
    auto run = BundleRun::Prepare(exec, dir, tmp + "/shares", false, tmp + "/crun");
    ASSERT_TRUE(run) << run.error().message;
    std::ifstream in(dir + "/process.json");
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), exec.process);
    EXPECT_EQ(run->Argv(), (std::vector<std::string>{kCrunPath, "--cgroup-manager=cgroupfs", "exec",
                                                     "--process", dir + "/process.json", "uvm"}));
  }
  struct stat st;
  EXPECT_NE(stat(dir.c_str(), &st), 0);
  unlink((tmp + "/crun/uvm/status").c_str());
  rmdir((tmp + "/crun/uvm").c_str());
  rmdir((tmp + "/crun").c_str());
  rmdir(tmp.c_str());
}

TEST(BundleRunTest, RefusesBadTagsBadNamesAndAnEmptyConfig) {
  const std::string tmp = TempDir();
  auto bad_tag = BundleRun::Prepare(OciBundle{{{"a/b", false}}, "{}", "c1", ""}, tmp + "/b",
                                    tmp + "/s", false);
  ASSERT_FALSE(bad_tag);
  EXPECT_NE(bad_tag.error().message.find("not a tag"), std::string::npos);
  for (const char* name : {"", "..", "a/b", "-x", "x y"}) {
    auto bad_name =
        BundleRun::Prepare(OciBundle{{}, "{}", name, ""}, tmp + "/b", tmp + "/s", false);
    ASSERT_FALSE(bad_name) << name;
    EXPECT_NE(bad_name.error().message.find("not valid"), std::string::npos);
  }
  auto no_config = BundleRun::Prepare(OciBundle{{}, "", "c1", ""}, tmp + "/b", tmp + "/s", false);
  ASSERT_FALSE(no_config);
  EXPECT_NE(no_config.error().message.find("no config"), std::string::npos);
  rmdir(tmp.c_str());
}

TEST(CrunInitPidTest, ReadsThePidFromCrunsState) {
  const std::string tmp = TempDir();
  EXPECT_FALSE(CrunInitPid(tmp, "c1")) << "no state yet";
  mkdir((tmp + "/c1").c_str(), 0755);
  std::ofstream(tmp + "/c1/status") << R"({"pid":4242,"rootfs":"/x"})";
  EXPECT_EQ(CrunInitPid(tmp, "c1"), std::optional<pid_t>(4242));
  std::ofstream(tmp + "/c1/status") << R"({"pid":1})";
  EXPECT_FALSE(CrunInitPid(tmp, "c1")) << "never the VM's own init";
  std::ofstream(tmp + "/c1/status") << "not json";
  EXPECT_FALSE(CrunInitPid(tmp, "c1"));
  EXPECT_FALSE(CrunInitPid(tmp, "../c1"));
  unlink((tmp + "/c1/status").c_str());
  rmdir((tmp + "/c1").c_str());
  rmdir(tmp.c_str());
}

TEST(AdjustBundleJsonTest, ARunGetsItsRootUserAndTerminal) {
  BundleAdjust adjust;
  adjust.root = "/run/uvm-agent/exec-3/root";
  adjust.user = Credentials{1000, 1001};
  adjust.terminal = std::make_pair<uint16_t, uint16_t>(40, 120);
  auto out = AdjustBundleJson(
      R"({"ociVersion":"1.0.2","root":{"path":"/"},"process":{"args":["sh"],"terminal":false}})",
      false, adjust);
  ASSERT_TRUE(out) << out.error().message;
  const auto doc = nlohmann::json::parse(*out);
  EXPECT_EQ(doc["root"],
            nlohmann::json({{"path", "/run/uvm-agent/exec-3/root"}, {"readonly", false}}));
  EXPECT_EQ(doc["process"]["user"], nlohmann::json({{"uid", 1000}, {"gid", 1001}}));
  EXPECT_EQ(doc["process"]["terminal"], true);
  EXPECT_EQ(doc["process"]["consoleSize"], nlohmann::json({{"height", 40}, {"width", 120}}));
  EXPECT_EQ(doc["process"]["args"], nlohmann::json({"sh"}));
}

TEST(AdjustBundleJsonTest, AnExecsProcessGetsItsTerminalAndNoRoot) {
  BundleAdjust adjust;
  adjust.root = "/ignored";
  adjust.terminal = std::make_pair<uint16_t, uint16_t>(24, 80);
  auto out = AdjustBundleJson(R"({"args":["ps"],"terminal":false})", true, adjust);
  ASSERT_TRUE(out) << out.error().message;
  const auto doc = nlohmann::json::parse(*out);
  EXPECT_EQ(doc["terminal"], true);
  EXPECT_FALSE(doc.contains("root"));
}

TEST(AdjustBundleJsonTest, RefusesWhatIsNotAnObject) {
  EXPECT_FALSE(AdjustBundleJson("[1]", false, {}));
  EXPECT_FALSE(AdjustBundleJson("{", true, {}));
  EXPECT_FALSE(AdjustBundleJson(R"({"process":3})", false, {}));
}

TEST(BundleRunTest, ATerminalRunHandsItOverACrunConsoleSocket) {
  const std::string tmp = TempDir();
  const std::string dir = tmp + "/bundle-4";
  BundleAdjust adjust;
  adjust.terminal = std::make_pair<uint16_t, uint16_t>(24, 80);
  auto run =
      BundleRun::Prepare(OciBundle{{}, R"({"process":{"args":["sh"]}})", "c4", ""}, dir,
                         tmp + "/shares", false, kCrunStateRoot, std::chrono::seconds(1), adjust);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->console_socket(), dir + "/console.sock");
  EXPECT_EQ(run->Argv(),
            (std::vector<std::string>{kCrunPath, "--cgroup-manager=cgroupfs", "run", "--bundle",
                                      dir, "--console-socket", dir + "/console.sock", "c4"}));
  std::ifstream in(dir + "/config.json");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(nlohmann::json::parse(text.str())["process"]["terminal"], true);
  run = Err("done");
  rmdir(tmp.c_str());
}

}  // namespace
}  // namespace uvm::agent
