// `uvm image import` of OCI layouts, oci-archives and docker-archives written by real tools:
// umoci builds a two-layer image (the second layer deletes a file, so it carries a whiteout),
// skopeo converts it. The imported ext4 disks are read back with debugfs, no mount needed.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace {

using uvm::testing::ProcessResult;
using uvm::testing::RunProcess;

const std::string kUvm = UVM_BINARY;

ProcessResult Sh(const std::string& script) { return RunProcess({"/bin/sh", "-ec", script}); }

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The store's files, recursively, sorted.
std::vector<std::string> StoreTree(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class RealToolsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/uvm-realtools-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (const char* tool : {"umoci", "skopeo", "debugfs"}) {
      ASSERT_EQ(Sh(std::string("command -v ") + tool + " || test -x /usr/sbin/" + tool).exit_code,
                0)
          << tool << " is missing: `make deps` installs it";
    }
    const std::string rootless = ::geteuid() == 0 ? "" : "--rootless";
    // Layer 1: a small tree with a symlink, a hard link, modes and an unprivileged owner.
    // Layer 2: deletes one file (a whiteout) and adds another. Then the process config.
    ProcessResult r = Sh("cd " + dir_ + R"sh(
      umoci init --layout layout
      umoci new --image layout:v1
      umoci unpack )sh" + rootless +
                         R"sh( --image layout:v1 bundle
      mkdir -p bundle/rootfs/etc bundle/rootfs/srv bundle/rootfs/bin
      echo hello > bundle/rootfs/etc/greeting
      echo doomed > bundle/rootfs/srv/old
      echo tool > bundle/rootfs/bin/tool
      chmod 4755 bundle/rootfs/bin/tool
      ln bundle/rootfs/bin/tool bundle/rootfs/bin/tool-link
      ln -s /etc/greeting bundle/rootfs/greeting-link
      echo mine > bundle/rootfs/srv/owned
      if [ "$(id -u)" = 0 ]; then chown 65534:65534 bundle/rootfs/srv/owned; fi
      umoci repack --image layout:v1 bundle
      rm -rf bundle
      umoci unpack )sh" + rootless +
                         R"sh( --image layout:v1 bundle
      rm bundle/rootfs/srv/old
      echo new > bundle/rootfs/srv/new
      umoci repack --image layout:v1 bundle
      umoci config --image layout:v1 --config.entrypoint /bin/echo --config.cmd hi \
        --config.env GREETING=hello --config.workingdir /srv --config.user 65534:65534
      skopeo copy -q oci:layout:v1 docker-archive:docker.tar:example/app:v1
      skopeo copy -q oci:layout:v1 oci-archive:oci.tar:v1
    )sh");
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  ProcessResult Uvm(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kUvm, "--root", dir_ + "/root"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv);
  }
  std::string Debugfs(const std::string& disk, const std::string& request) {
    return Sh("debugfs -R '" + request + "' " + disk + " 2>/dev/null").out;
  }
  nlohmann::json Record(const std::string& name) {
    return nlohmann::json::parse(ReadFile(dir_ + "/root/images/records/" + name + ".json"));
  }
  std::string Disk(const std::string& name) {
    return dir_ + "/root/images/disks/" + Record(name)["disk"].get<std::string>();
  }
  void ExpectImage(const std::string& name) {
    const std::string disk = Disk(name);
    EXPECT_EQ(Debugfs(disk, "cat /etc/greeting"), "hello\n");
    EXPECT_EQ(Debugfs(disk, "cat /srv/new"), "new\n");
    // The whiteout of layer 2 removed layer 1's file.
    EXPECT_NE(Debugfs(disk, "ls /srv").find("owned"), std::string::npos);
    EXPECT_EQ(Debugfs(disk, "ls /srv").find("old"), std::string::npos);
    std::string tool = Debugfs(disk, "stat /bin/tool");
    EXPECT_NE(tool.find("Mode:  04755"), std::string::npos) << tool;
    EXPECT_NE(tool.find("Links: 2"), std::string::npos) << tool;
    EXPECT_NE(Debugfs(disk, "stat /greeting-link").find("Fast link dest: \"/etc/greeting\""),
              std::string::npos);
    if (::geteuid() == 0) {
      std::string owned = Debugfs(disk, "stat /srv/owned");
      EXPECT_NE(owned.find("User: 65534   Group: 65534"), std::string::npos) << owned;
    }
    nlohmann::json c = Record(name)["config"];
    EXPECT_EQ(c["entrypoint"], nlohmann::json::array({"/bin/echo"}));
    EXPECT_EQ(c["cmd"], nlohmann::json::array({"hi"}));
    EXPECT_NE(std::find(c["env"].begin(), c["env"].end(), "GREETING=hello"), c["env"].end());
    EXPECT_EQ(c["working_dir"], "/srv");
    EXPECT_EQ(c["user"], "65534:65534");
  }

  static std::string dir_;
};

std::string RealToolsTest::dir_;

TEST_F(RealToolsTest, OciLayoutFromUmoci) {
  ProcessResult r = Uvm({"image", "import", "oci:" + dir_ + "/layout:v1", "from-oci"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectImage("from-oci");
}

TEST_F(RealToolsTest, DockerArchiveFromSkopeo) {
  ProcessResult r =
      Uvm({"image", "import", "docker-archive:" + dir_ + "/docker.tar", "from-docker"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectImage("from-docker");
  r = Uvm({"image", "import", "docker-archive:" + dir_ + "/docker.tar:example/app:v1", "tagged"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(RealToolsTest, OciArchiveFromSkopeo) {
  ProcessResult r =
      Uvm({"image", "import", "oci-archive:" + dir_ + "/oci.tar", "from-oci-archive"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectImage("from-oci-archive");
}

TEST_F(RealToolsTest, SameLayersShareOneDisk) {
  ASSERT_EQ(Uvm({"image", "import", "oci:" + dir_ + "/layout", "a"}).exit_code, 0);
  ASSERT_EQ(Uvm({"image", "import", "docker-archive:" + dir_ + "/docker.tar", "b"}).exit_code, 0);
  EXPECT_EQ(Disk("a"), Disk("b"));
  ProcessResult ls = Uvm({"image", "ls"});
  ASSERT_EQ(ls.exit_code, 0);
  EXPECT_NE(ls.out.find("\na "), std::string::npos) << ls.out;
  ASSERT_EQ(Uvm({"image", "rm", "a"}).exit_code, 0);
  EXPECT_TRUE(std::filesystem::exists(Disk("b")));
  ASSERT_EQ(Uvm({"image", "rm", "b"}).exit_code, 0);
  ProcessResult again = Uvm({"image", "rm", "b"});
  EXPECT_EQ(again.exit_code, 125);
}

TEST_F(RealToolsTest, TruncatedOrCorruptImagesLeaveTheStoreAsItWas) {
  ASSERT_EQ(Uvm({"image", "import", "oci:" + dir_ + "/layout", "keep"}).exit_code, 0);
  const std::vector<std::string> before = StoreTree(dir_ + "/root");
  const std::string record = ReadFile(dir_ + "/root/images/records/keep.json");
  struct Case {
    std::string prep, source, error;
  };
  const Case cases[] = {
      // A docker-archive cut in the middle of a layer.
      {"head -c $(( $(stat -c %s docker.tar) / 2 )) docker.tar > cut-docker.tar",
       "docker-archive:" + dir_ + "/cut-docker.tar", "truncated"},
      // An oci-archive cut short.
      {"head -c 3000 oci.tar > cut-oci.tar", "oci-archive:" + dir_ + "/cut-oci.tar", ""},
      // The biggest blob of the layout (a layer) with one byte changed, size kept.
      {"rm -rf bad-layout; cp -a layout bad-layout; "
       "f=bad-layout/blobs/sha256/$(ls -S bad-layout/blobs/sha256 | head -1); chmod u+w $f; "
       "printf X | dd of=$f bs=1 seek=40 conv=notrunc 2>/dev/null",
       "oci:" + dir_ + "/bad-layout", ""},
  };
  for (const Case& c : cases) {
    ProcessResult p = Sh("cd " + dir_ + "; " + c.prep);
    ASSERT_EQ(p.exit_code, 0) << p.err;
    ProcessResult r = Uvm({"image", "import", c.source, "keep"});
    EXPECT_EQ(r.exit_code, 125) << c.source;
    EXPECT_TRUE(r.out.empty()) << r.out;
    ASSERT_FALSE(r.err.empty()) << c.source;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;  // one line
    EXPECT_NE(r.err.find(c.error), std::string::npos) << r.err;
    EXPECT_EQ(StoreTree(dir_ + "/root"), before) << c.source;
  }
  EXPECT_EQ(ReadFile(dir_ + "/root/images/records/keep.json"), record);
}

}  // namespace
