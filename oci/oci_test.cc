#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "oci/bundle_isolation.h"
#include "oci/router.h"
#include "oci/runtime_args.h"
#include "oci/runtime_log.h"

namespace uvm::oci {
namespace {

namespace fs = std::filesystem;
using Words = std::vector<std::string>;

class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/uvm-oci-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }
  void Write(const std::string& rel, const std::string& text) const {
    fs::create_directories(fs::path(path_ / fs::path(rel)).parent_path());
    std::ofstream(path_ + "/" + rel) << text;
  }

 private:
  std::string path_;
};

TEST(RuntimeArgsTest, GlobalFlagsAsEnginesPassThem) {
  auto a =
      ParseRuntimeArgs({"--root", "/r", "--log", "/l.json", "--log-format", "json",
                        "--systemd-cgroup", "create", "--bundle", "/b", "--pid-file", "p", "id1"});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->root, "/r");
  EXPECT_EQ(a->log_file, "/l.json");
  EXPECT_EQ(a->log_format, "json");
  EXPECT_EQ(a->command, "create");
  EXPECT_EQ(a->command_args, (Words{"--bundle", "/b", "--pid-file", "p", "id1"}));
  EXPECT_EQ(a->runc_globals,
            (Words{"--log", "/l.json", "--log-format", "json", "--systemd-cgroup"}));
  EXPECT_FALSE(a->isolation);
}

TEST(RuntimeArgsTest, GoFlagSpellingsAndUvmsOwnFlags) {
  auto a = ParseRuntimeArgs({"-root=/r", "-debug", "--isolation=process", "--process-runtime",
                             "/usr/sbin/runc", "state", "x"});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->root, "/r");
  EXPECT_EQ(a->isolation, Isolation::kProcess);
  EXPECT_EQ(a->process_runtime, "/usr/sbin/runc");
  EXPECT_EQ(a->runc_globals, (Words{"-debug"}));  // uvm's flags never reach runc
  EXPECT_EQ(a->command, "state");
}

TEST(RuntimeArgsTest, BadCommandLinesAreRefusedWithOneLine) {
  for (const Words& words : std::vector<Words>{{"--isolation", "container", "run", "x"},
                                               {"--log-format", "xml", "state", "x"},
                                               {"--frobnicate", "state", "x"},
                                               {"--root"},
                                               {"--debug=maybe", "state", "x"},
                                               {"--\noot", "/r", "state", "x"},
                                               {"--isolation", "a\nb", "state", "x"},
                                               {}}) {
    auto a = ParseRuntimeArgs(words);
    ASSERT_FALSE(a) << (words.empty() ? "(no words)" : words[0]);
    EXPECT_EQ(a.error().message.find('\n'), std::string::npos);
  }
  auto v = ParseRuntimeArgs({"--version"});
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->version);
}

TEST(RuntimeArgsTest, TheContainerIdIsFoundPastTheCommandsFlags) {
  EXPECT_EQ(ContainerId("exec", {"--cwd", "/x", "--env", "A=B", "-e", "C=D", "--tty",
                                 "--pid-file=f", "-u", "0:0", "id2", "sh", "-c", "true"}),
            "id2");
  EXPECT_EQ(ContainerId("ps", {"--format", "json", "id3"}), "id3");
  EXPECT_EQ(ContainerId("ps", {"-f=json", "id3"}), "id3");
  EXPECT_EQ(ContainerId("kill", {"--all", "id4", "KILL"}), "id4");
  EXPECT_EQ(ContainerId("delete", {"--force", "id5"}), "id5");
  EXPECT_EQ(ContainerId("create", {"-b", "/b", "--console-socket", "/s", "id6"}), "id6");
  EXPECT_EQ(ContainerId("exec", {"--detach", "--", "id7", "ls"}), "id7");
  EXPECT_EQ(ContainerId("update", {"--memory", "100", "--pids-limit", "5", "id8"}), "id8");
  EXPECT_EQ(ContainerId("state", {}), "");
}

TEST(RuntimeArgsTest, TheBundleIsTheFlagOrTheCurrentDirectory) {
  EXPECT_EQ(BundleDir({"--bundle=/b1", "id"}), "/b1");
  EXPECT_EQ(BundleDir({"--pid-file", "p", "-b", "/b2", "id"}), "/b2");
  EXPECT_EQ(BundleDir({"--pid-file", "-b", "id"}), ".");  // "-b" was the pid file's value
  EXPECT_EQ(BundleDir({"id"}), ".");
}

TEST(BundleIsolationTest, AnnotationThenFlagThenVm) {
  const std::string process = R"({"annotations":{"io.uvm.isolation":"process"}})";
  const std::string vm = R"({"annotations":{"io.uvm.isolation":"vm"}})";
  EXPECT_EQ(IsolationOfConfig(process, std::nullopt).value(), Isolation::kProcess);
  EXPECT_EQ(IsolationOfConfig(vm, Isolation::kProcess).value(), Isolation::kVm);
  EXPECT_EQ(IsolationOfConfig(R"({"ociVersion":"1.0.2"})", Isolation::kProcess).value(),
            Isolation::kProcess);
  EXPECT_EQ(IsolationOfConfig(R"({"annotations":null})", std::nullopt).value(), Isolation::kVm);
}

TEST(BundleIsolationTest, BadConfigsAreRefused) {
  auto bogus = IsolationOfConfig(R"({"annotations":{"io.uvm.isolation":"hyperv"}})", {});
  ASSERT_FALSE(bogus);
  EXPECT_NE(bogus.error().message.find("io.uvm.isolation"), std::string::npos);
  EXPECT_FALSE(IsolationOfConfig(R"({"annotations":["io.uvm.isolation"]})", {}));
  EXPECT_FALSE(IsolationOfConfig(R"({"annotations":{"io.uvm.isolation":7}})", {}));
  EXPECT_FALSE(IsolationOfConfig("not json", {}));
  EXPECT_FALSE(IsolationOfConfig("[]", {}));
  ScratchDir empty;
  EXPECT_FALSE(IsolationOfBundle(empty.path(), Isolation::kProcess));  // no config.json
  auto odd = IsolationOfBundle(empty.path() + "/a\nb", std::nullopt);
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().message.find('\n'), std::string::npos);
}

TEST(RouterTest, ContainerIdsFollowRuncsRule) {
  EXPECT_TRUE(ValidContainerId("abc-1_2+3.4"));
  for (const char* bad : {"", ".", "..", "a/b", "../x", "a b", "a\nb"}) {
    EXPECT_FALSE(ValidContainerId(bad)) << bad;
  }
}

TEST(RouterTest, AProcessContainerIsRuncsWithUvmsRoot) {
  ScratchDir dir;
  dir.Write("bundle/config.json", R"({"annotations":{"io.uvm.isolation":"process"}})");
  auto args = ParseRuntimeArgs({"--root", dir.path() + "/state", "--log", "/l", "create",
                                "--bundle", dir.path() + "/bundle", "c1"});
  ASSERT_TRUE(args);
  auto plan = PlanCommand(*args, "/usr/sbin/runc", "9.9");
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->kind, Plan::Kind::kRunProcessRuntime);
  EXPECT_EQ(plan->argv, (Words{"/usr/sbin/runc", "--root", dir.path() + "/state/process", "--log",
                               "/l", "create", "--bundle", dir.path() + "/bundle", "c1"}));

  // Later commands go to runc once runc has the container, and are refused before.
  auto state = ParseRuntimeArgs({"--root", dir.path() + "/state", "state", "c1"});
  ASSERT_TRUE(state);
  auto missing = PlanCommand(*state, "/usr/sbin/runc", "9.9");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos);
  fs::create_directories(dir.path() + "/state/process/c1");
  auto found = PlanCommand(*state, "/usr/sbin/runc", "9.9");
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->argv.back(), "c1");
}

TEST(RouterTest, VmIsolationIsTheDefaultAndLaterCommandsFindTheVmContainer) {
  ScratchDir dir;
  dir.Write("config.json", R"({"ociVersion":"1.0.2"})");
  auto args =
      ParseRuntimeArgs({"--root", dir.path() + "/state", "create", "--bundle", dir.path(), "c2"});
  ASSERT_TRUE(args);
  auto plan = PlanCommand(*args, "runc", "9.9");
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->kind, Plan::Kind::kVm);
  auto flagged = ParseRuntimeArgs({"--isolation", "process", "create", "-b", dir.path(), "c2"});
  ASSERT_TRUE(flagged);
  auto process = PlanCommand(*flagged, "runc", "9.9");
  ASSERT_TRUE(process);
  EXPECT_EQ(process->kind, Plan::Kind::kRunProcessRuntime);

  auto state = ParseRuntimeArgs({"--root", dir.path() + "/state", "state", "c2"});
  ASSERT_TRUE(state);
  EXPECT_FALSE(PlanCommand(*state, "runc", "9.9")) << "no container c2 yet";
  ASSERT_TRUE(MakeDirs(VmRoot(*state) + "/c2"));
  auto found = PlanCommand(*state, "runc", "9.9");
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->kind, Plan::Kind::kVm);
}

TEST(RouterTest, VersionUnknownAndUnsupportedCommands) {
  auto version = PlanCommand(ParseRuntimeArgs({"--version"}).value(), "", "9.9");
  ASSERT_TRUE(version);
  EXPECT_EQ(version->text, "uvm-runtime version 9.9\nspec: 1.0.2-dev\n");
  EXPECT_FALSE(PlanCommand(ParseRuntimeArgs({"checkpoint", "x"}).value(), "runc", "9.9"));
  EXPECT_FALSE(PlanCommand(ParseRuntimeArgs({"frob", "x"}).value(), "runc", "9.9"));
  EXPECT_FALSE(PlanCommand(ParseRuntimeArgs({"kill"}).value(), "runc", "9.9"));
  EXPECT_FALSE(PlanCommand(ParseRuntimeArgs({"state", "../x"}).value(), "runc", "9.9"));
  auto list = PlanCommand(ParseRuntimeArgs({"list", "-q"}).value(), "runc", "9.9");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->argv, (Words{"runc", "--root", "/run/uvm-runtime/process", "list", "-q"}));
}

TEST(RuntimeLogTest, LinesAreWhatConmonAndTheShimParse) {
  auto json = nlohmann::json::parse(FormatLogLine("json", "error", "a \"b\"\n", "T"));
  EXPECT_EQ(json["level"], "error");
  EXPECT_EQ(json["msg"], "a \"b\"\n");
  EXPECT_EQ(json["time"], "T");
  EXPECT_EQ(FormatLogLine("text", "error", "a \"b\"\n", "T"),
            "time=\"T\" level=error msg=\"a \\\"b\\\"\\n\"");
  EXPECT_EQ(NowRfc3339().size(), 20u);
}

}  // namespace
}  // namespace uvm::oci
