#include "runtime/process_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace uvm::runtime {
namespace {

using nlohmann::json;

ProcessBundleSpec Spec() {
  ProcessBundleSpec spec;
  spec.exec.argv = {"sh", "-c", "echo hi"};
  spec.exec.env = {"HOME=/root"};
  spec.exec.cwd = "/work";
  spec.exec.hostname = "box";
  spec.uid = 1000;
  spec.gid = 1001;
  spec.rootfs = "/run/x/rootfs";
  return spec;
}

TEST(ProcessConfigTest, TheExecRequestBecomesRuncsProcessAndRoot) {
  const json config = json::parse(ProcessConfigJson(Spec()));
  EXPECT_EQ(config["process"]["args"], json({"sh", "-c", "echo hi"}));
  EXPECT_EQ(config["process"]["cwd"], "/work");
  EXPECT_EQ(config["process"]["user"], json({{"uid", 1000}, {"gid", 1001}}));
  EXPECT_EQ(config["process"]["terminal"], false);
  // A PATH when the image gives none, as the agent does in a VM.
  EXPECT_EQ(
      config["process"]["env"],
      json({"HOME=/root", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}));
  EXPECT_EQ(config["root"]["path"], "/run/x/rootfs");
  EXPECT_EQ(config["hostname"], "box");
  // Loopback only, as a VM with --net none: a network namespace of its own, no path.
  bool network = false;
  for (const auto& ns : config["linux"]["namespaces"]) {
    if (ns["type"] == "network") network = !ns.contains("path");
  }
  EXPECT_TRUE(network);
  EXPECT_FALSE(config["linux"].contains("resources")) << "no limit unless one is asked for";
}

TEST(ProcessConfigTest, VolumesLimitsAndATerminal) {
  ProcessBundleSpec spec = Spec();
  spec.exec.env.push_back("PATH=/bin");
  spec.exec.tty = true;
  spec.exec.rows = 40;
  spec.exec.cols = 120;
  spec.volumes = {{"/srv/data", "/data", false}, {"/srv/cfg", "/cfg", true}};
  spec.limits.memory_mib = 300;
  spec.limits.cpus = 2;
  const json config = json::parse(ProcessConfigJson(spec));
  EXPECT_EQ(config["process"]["env"], json({"HOME=/root", "PATH=/bin", "TERM=xterm"}));
  EXPECT_EQ(config["process"]["terminal"], true);
  EXPECT_EQ(config["process"]["consoleSize"], json({{"height", 40}, {"width", 120}}));
  const json& mounts = config["mounts"];
  ASSERT_GE(mounts.size(), 2u);
  const json& data = mounts[mounts.size() - 2];
  const json& cfg = mounts[mounts.size() - 1];
  EXPECT_EQ(data["destination"], "/data");
  EXPECT_EQ(data["source"], "/srv/data");
  EXPECT_EQ(data["options"], json({"rbind", "rprivate", "rw"}));
  EXPECT_EQ(cfg["options"], json({"rbind", "rprivate", "ro"}));
  EXPECT_EQ(config["linux"]["resources"]["memory"]["limit"], 300ull << 20);
  EXPECT_EQ(config["linux"]["resources"]["cpu"]["quota"], 200000);
  EXPECT_EQ(config["linux"]["resources"]["cpu"]["period"], 100000);
}

TEST(ProcessConfigTest, AVmRunSharesTheVmsNetworkAndLeavesRootUserAndVolumesToTheAgent) {
  agent::ExecRequest exec = Spec().exec;
  exec.user = "1000";
  exec.rootfs = agent::Rootfs{"/dev/vda", "ext4", 256, {{"uvmfs0", "/data", false}}};
  const json config = json::parse(VmRunConfigJson(exec));
  EXPECT_EQ(config["process"]["args"], json({"sh", "-c", "echo hi"}));
  EXPECT_EQ(config["hostname"], "box");
  for (const auto& ns : config["linux"]["namespaces"]) {
    EXPECT_NE(ns["type"], "network") << "the container must have the VM's network";
  }
  EXPECT_EQ(config["linux"]["namespaces"].size(), 5u);  // pid, ipc, uts, mount, cgroup
  EXPECT_EQ(config["root"]["path"], "/");
  EXPECT_EQ(config["process"]["user"], json({{"uid", 0}, {"gid", 0}}));
  for (const auto& m : config["mounts"]) EXPECT_NE(m["destination"], "/data");
  EXPECT_FALSE(config["linux"].contains("resources"));
}

}  // namespace
}  // namespace uvm::runtime
