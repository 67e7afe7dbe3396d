#include "oci/vm_bundle.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "oci/runtime_args.h"
#include "oci/vm_state.h"

namespace uvm::oci {
namespace {

using nlohmann::json;

std::string Tag(int i) { return "uvmfs" + std::to_string(i); }

// A host where paths under /dirs are directories, under /files files, /dev/* devices.
PathKind FakeHost(const std::string& path) {
  if (path.rfind("/bundle", 0) == 0 || path.rfind("/dirs", 0) == 0) return PathKind::kDirectory;
  if (path.rfind("/files", 0) == 0) return PathKind::kFile;
  if (path.rfind("/dev", 0) == 0) return PathKind::kOther;
  return PathKind::kMissing;
}

Result<VmBundle> Plan(const json& config) {
  return PlanVmBundle(config.dump(), "/bundle", Tag, 6, "/state/c1/files", FakeHost);
}

json PodmanLike() {
  return json::parse(R"({
    "ociVersion": "1.0.2-dev",
    "process": {"terminal": false, "args": ["sh", "-c", "echo hi"], "cwd": "/"},
    "root": {"path": "rootfs", "readonly": false},
    "hostname": "box",
    "annotations": {"io.uvm.isolation": "vm", "org.opencontainers.image.stopSignal": "15"},
    "mounts": [
      {"destination": "/proc", "type": "proc", "source": "proc"},
      {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
      {"destination": "/etc/hosts", "type": "bind", "source": "/files/userdata/hosts",
       "options": ["bind", "rprivate"]},
      {"destination": "/etc/resolv.conf", "type": "bind", "source": "/files/userdata/resolv.conf",
       "options": ["bind", "rprivate"]},
      {"destination": "/data", "type": "bind", "source": "/dirs/data", "options": ["rbind", "rw"]},
      {"destination": "/data-ro", "source": "/dirs/data", "options": ["rbind", "ro"]},
      {"destination": "/cfg", "type": "bind", "source": "/dirs/cfg", "options": ["bind", "ro"]}
    ],
    "linux": {
      "cgroupsPath": "machine.slice:libpod:abc",
      "namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/cni-1"},
                     {"type": "mount"}]
    }
  })");
}

TEST(VmBundleTest, RootAndBindSourcesBecomeSharesAndTheRestTravelsUnchanged) {
  auto vm = Plan(PodmanLike());
  ASSERT_TRUE(vm) << vm.error().message;
  // root, the container's own directory for both files (never their host directory, whose other
  // files the VM must not reach), /dirs/data (once), /dirs/cfg.
  ASSERT_EQ(vm->shares.size(), 4u);
  EXPECT_EQ(vm->shares[0].host_dir, "/bundle/rootfs");
  EXPECT_FALSE(vm->shares[0].read_only);
  EXPECT_EQ(vm->shares[1].host_dir, "/state/c1/files/rw");
  ASSERT_EQ(vm->file_binds.size(), 2u);
  EXPECT_EQ(vm->file_binds[0].host_file, "/files/userdata/hosts");
  EXPECT_EQ(vm->file_binds[0].target, "/state/c1/files/rw/0/hosts");
  EXPECT_EQ(vm->file_binds[1].host_file, "/files/userdata/resolv.conf");
  EXPECT_EQ(vm->file_binds[1].target, "/state/c1/files/rw/1/resolv.conf");
  EXPECT_EQ(vm->shares[2].host_dir, "/dirs/data");
  EXPECT_FALSE(vm->shares[2].read_only) << "read-write while any use of it is";
  EXPECT_EQ(vm->shares[3].host_dir, "/dirs/cfg");
  EXPECT_TRUE(vm->shares[3].read_only);
  ASSERT_EQ(vm->guest.shares.size(), 4u);
  EXPECT_EQ(vm->guest.shares[3].tag, "uvmfs3");
  EXPECT_TRUE(vm->guest.shares[3].read_only);

  const json guest = json::parse(vm->guest.config);
  EXPECT_EQ(guest["root"]["path"], "/run/uvm/shares/uvmfs0");
  EXPECT_EQ(guest["mounts"][0], PodmanLike()["mounts"][0]);
  EXPECT_EQ(guest["mounts"][1], PodmanLike()["mounts"][1]);
  EXPECT_EQ(guest["mounts"][2]["source"], "/run/uvm/shares/uvmfs1/0/hosts");
  EXPECT_EQ(guest["mounts"][3]["source"], "/run/uvm/shares/uvmfs1/1/resolv.conf");
  EXPECT_EQ(guest["mounts"][4]["source"], "/run/uvm/shares/uvmfs2");
  EXPECT_EQ(guest["mounts"][5]["source"], "/run/uvm/shares/uvmfs2");
  EXPECT_EQ(guest["mounts"][6]["source"], "/run/uvm/shares/uvmfs3");
  EXPECT_EQ(guest["process"], PodmanLike()["process"]);
  EXPECT_EQ(guest["hostname"], "box");
  EXPECT_FALSE(guest["linux"].contains("cgroupsPath"));
  EXPECT_EQ(guest["linux"]["namespaces"][1], json({{"type", "network"}}));
  ASSERT_EQ(vm->warnings.size(), 1u);
  EXPECT_NE(vm->warnings[0].find("loopback only"), std::string::npos);
  EXPECT_EQ(vm->annotations.at("io.uvm.isolation"), "vm");
}

TEST(VmBundleTest, ATerminalIsTheAgentsToGiveSoCrunIsToldNone) {
  json config = PodmanLike();
  config["process"]["terminal"] = true;
  auto vm = Plan(config);
  ASSERT_TRUE(vm) << vm.error().message;
  EXPECT_TRUE(vm->terminal);
  EXPECT_EQ(json::parse(vm->guest.config)["process"]["terminal"], false);
  EXPECT_FALSE(Plan(PodmanLike())->terminal);
}

// Hooks run on the host: they are taken out of the config crun gets in the VM.
TEST(VmBundleTest, HooksStayOnTheHost) {
  json config = PodmanLike();
  config["hooks"] = {{"prestart", {{{"path", "/usr/libexec/hook"}, {"args", {"hook", "pre"}}}}},
                     {"poststop", {{{"path", "/bin/true"}}}}};
  auto vm = Plan(config);
  ASSERT_TRUE(vm) << vm.error().message;
  ASSERT_EQ(vm->hooks.prestart.size(), 1u);
  EXPECT_EQ(vm->hooks.prestart[0].path, "/usr/libexec/hook");
  EXPECT_EQ(vm->hooks.poststop.size(), 1u);
  EXPECT_FALSE(json::parse(vm->guest.config).contains("hooks"));
}

TEST(VmBundleTest, ResourcesSizeTheVmInFewShapes) {
  auto sized = [](const json& resources) {
    json config = PodmanLike();
    config["linux"]["resources"] = resources;
    auto vm = Plan(config);
    EXPECT_TRUE(vm) << vm.error().message;
    return vm ? std::make_pair(vm->memory_mib, vm->cpus) : std::make_pair(uint64_t{0}, 0);
  };
  EXPECT_EQ(sized(json::object()), std::make_pair(uint64_t{256}, 1));
  EXPECT_EQ(sized({{"memory", {{"limit", 100 << 20}}}}).first, 256u);
  EXPECT_EQ(sized({{"memory", {{"limit", 300 << 20}}}}).first, 512u) << "300 MiB and the guest's";
  EXPECT_EQ(sized({{"memory", {{"limit", 1000 << 20}}}}).first, 2048u);
  EXPECT_EQ(sized({{"memory", {{"limit", -1}}}}).first, 256u);
  EXPECT_EQ(sized({{"memory", {{"limit", int64_t{1} << 50}}}}).first, kVmMaxMemoryMib);
  EXPECT_EQ(sized({{"cpu", {{"quota", 200000}, {"period", 100000}}}}).second, 2);
  EXPECT_EQ(sized({{"cpu", {{"quota", 150000}}}}).second, 2);
  EXPECT_EQ(sized({{"cpu", {{"cpus", "0-2,5"}}}}).second, 4);
  EXPECT_EQ(sized({{"cpu", {{"cpus", "x-y"}}}}).second, 1);
  EXPECT_EQ(sized({{"cpu", {{"quota", 100000000}, {"period", 1000}}}}).second, kVmMaxCpus);
}

TEST(VmBundleTest, PathsAreResolvedAgainstTheBundleWithoutDotDot) {
  json config = PodmanLike();
  config["root"]["path"] = "./a/../rootfs/";
  config["mounts"][4]["source"] = "/dirs/x/../data";
  auto vm = Plan(config);
  ASSERT_TRUE(vm) << vm.error().message;
  EXPECT_EQ(vm->shares[0].host_dir, "/bundle/rootfs");
  EXPECT_EQ(vm->shares[2].host_dir, "/dirs/data");
}

TEST(VmBundleTest, WhatCannotHoldInAVmIsRefusedByName) {
  auto refused = [](const json& config, const std::string& words) {
    auto vm = Plan(config);
    ASSERT_FALSE(vm) << config.dump();
    EXPECT_NE(vm.error().message.find(words), std::string::npos) << vm.error().message;
    EXPECT_EQ(vm.error().message.find('\n'), std::string::npos);
  };
  json device = PodmanLike();
  device["mounts"][4]["source"] = "/dev/fuse";
  refused(device, "cannot reach a VM");
  json missing = PodmanLike();
  missing["mounts"][4]["source"] = "/nowhere";
  refused(missing, "does not exist");
  json join = PodmanLike();
  join["linux"]["namespaces"][0]["path"] = "/proc/1/ns/pid";
  refused(join, "\"pid\" namespace");
  json in_container = PodmanLike();
  in_container["hooks"] = {{"createContainer", {{{"path", "/bin/true"}}}}};
  refused(in_container, "createContainer hooks");
  json terminal = PodmanLike();
  terminal["process"]["terminal"] = "yes";
  refused(terminal, "terminal");
  json many = PodmanLike();
  for (int i = 0; i < 6; ++i) {
    many["mounts"].push_back({{"destination", "/m" + std::to_string(i)},
                              {"type", "bind"},
                              {"source", "/dirs/m" + std::to_string(i)}});
  }
  refused(many, "more than 6 host directories");
  json no_root = PodmanLike();
  no_root["root"]["path"] = "/files/f";
  refused(no_root, "is not a directory");
  refused(json::array(), "object");
  json bad_annotation = PodmanLike();
  bad_annotation["annotations"]["x"] = 3;
  refused(bad_annotation, "annotation");
}

TEST(VmStateTest, RecordRoundTripsAndStateFollowsTheRuntimeSpec) {
  VmContainerRecord r{"c1", "/b", "2026-12-07T00:00:00Z", 42, 777, {{"k", "v"}}};
  auto back = ParseRecord(RecordJson(r));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->id, "c1");
  EXPECT_EQ(back->pid, 42);
  EXPECT_EQ(back->pid_start, 777u);
  EXPECT_EQ(back->annotations.at("k"), "v");
  const json running = json::parse(StateJson(r, VmStatus::kRunning));
  EXPECT_EQ(running["status"], "running");
  EXPECT_EQ(running["pid"], 42);
  EXPECT_EQ(running["bundle"], "/b");
  EXPECT_EQ(running["ociVersion"], "1.0.2");
  EXPECT_EQ(json::parse(StateJson(r, VmStatus::kStopped))["pid"], 0);
  EXPECT_FALSE(ParseRecord(R"({"id":"c1"})"));
}

TEST(VmStateTest, ProcessStartTimeSkipsTheCommandNameAndZombies) {
  const std::string rest = " 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1000 1";
  EXPECT_EQ(LiveProcessStartFromStat("12 (a) b) c) S" + rest), 98765u);
  EXPECT_FALSE(LiveProcessStartFromStat("12 (sleep) Z" + rest));
  EXPECT_FALSE(LiveProcessStartFromStat("garbage"));
  EXPECT_TRUE(LiveProcessStart(getpid()));
}

TEST(VmStateTest, PidListsFromTheVm) {
  EXPECT_EQ(ParseJsonArrayOfInts("[1, 7, 30]").value(), (std::vector<int64_t>{1, 7, 30}));
  EXPECT_TRUE(ParseJsonArrayOfInts("[]").value().empty());
  EXPECT_FALSE(ParseJsonArrayOfInts("{}"));
  EXPECT_FALSE(ParseJsonArrayOfInts("[1, \"x\"]"));
  EXPECT_FALSE(ParseJsonArrayOfInts("[-1]"));
  EXPECT_FALSE(ParseJsonArrayOfInts("not json"));
}

TEST(VmStateTest, SignalsByNameAndNumber) {
  EXPECT_EQ(ParseSignal("KILL"), 9);
  EXPECT_EQ(ParseSignal("SIGTERM"), 15);
  EXPECT_EQ(ParseSignal("usr1"), 10);
  EXPECT_EQ(ParseSignal("2"), 2);
  EXPECT_EQ(ParseSignal("0"), 0);
  EXPECT_FALSE(ParseSignal("SIGNOPE"));
  EXPECT_FALSE(ParseSignal("99999"));
  EXPECT_FALSE(ParseSignal(""));
}

TEST(CommandLineTest, FlagsValuesAndOperandsAsRuncReadsThem) {
  auto cl = ParseCommandLine("create", {"--bundle", "/b", "--pid-file=/p", "--no-pivot", "id1"});
  ASSERT_TRUE(cl) << cl.error().message;
  EXPECT_EQ(cl->Value("bundle"), "/b");
  EXPECT_EQ(cl->Value("pid-file"), "/p");
  EXPECT_TRUE(cl->Has("no-pivot"));
  EXPECT_EQ(cl->operands, std::vector<std::string>{"id1"});
  auto del = ParseCommandLine("delete", {"--force=false", "id2"});
  ASSERT_TRUE(del);
  EXPECT_FALSE(del->Has("force"));
  // One-letter flags by runc's long names, which depend on the command.
  EXPECT_TRUE(ParseCommandLine("delete", {"-f", "id2"})->Has("force"));
  EXPECT_EQ(ParseCommandLine("ps", {"-f", "json", "id2"})->Value("format"), "json");
  auto update = ParseCommandLine("update", {"-r", "-", "--memory", "400m", "id3"});
  ASSERT_TRUE(update);
  EXPECT_EQ(update->Value("resources"), "-");
  EXPECT_EQ(update->Value("memory"), "400m");
  EXPECT_EQ(update->operands, (std::vector<std::string>{"id3"}));
  EXPECT_EQ(ParseCommandLine("create", {"-b", "/b", "id2"})->Value("bundle"), "/b");
  auto exec = ParseCommandLine("exec", {"-t", "-e", "A=1", "--env", "B=2", "-u", "7", "id2"});
  ASSERT_TRUE(exec);
  EXPECT_TRUE(exec->Has("tty"));
  EXPECT_EQ(exec->lists.at("env"), (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(exec->Value("user"), "7");
  auto kill = ParseCommandLine("kill", {"--", "-id", "KILL"});
  ASSERT_TRUE(kill);
  EXPECT_EQ(kill->operands, (std::vector<std::string>{"-id", "KILL"}));
  EXPECT_FALSE(ParseCommandLine("create", {"--bundle"}));
  EXPECT_FALSE(ParseCommandLine("delete", {"--force=maybe", "x"}));
}

}  // namespace
}  // namespace uvm::oci
