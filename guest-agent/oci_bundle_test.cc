#include "guest-agent/oci_bundle.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
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
  OciBundle bundle{{{"uvmfs0", false}}, R"({"ociVersion":"1.0.2","process":{"args":["sh"]}})"};
  {
    auto run = BundleRun::Prepare(bundle, dir, "c7", tmp + "/shares", false);
    ASSERT_TRUE(run) << run.error().message;
    std::ifstream in(dir + "/config.json");
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), bundle.config);
    EXPECT_EQ(run->Argv(), (std::vector<std::string>{kCrunPath, "--cgroup-manager=disabled",
                                                     "run", "--bundle", dir, "c7"}));
    BundleRun moved(std::move(*run));
  }
  struct stat st;
  EXPECT_NE(stat(dir.c_str(), &st), 0) << "the bundle directory outlived its run";
  rmdir((tmp + "/run").c_str());
  rmdir(tmp.c_str());
}

TEST(BundleRunTest, RefusesBadTagsAndAnEmptyConfig) {
  const std::string tmp = TempDir();
  auto bad_tag = BundleRun::Prepare(OciBundle{{{"a/b", false}}, "{}"}, tmp + "/b", "c1",
                                    tmp + "/shares", false);
  ASSERT_FALSE(bad_tag);
  EXPECT_NE(bad_tag.error().message.find("not a tag"), std::string::npos);
  auto no_config = BundleRun::Prepare(OciBundle{{}, ""}, tmp + "/b", "c1", tmp + "/s", false);
  ASSERT_FALSE(no_config);
  EXPECT_NE(no_config.error().message.find("no config"), std::string::npos);
  rmdir(tmp.c_str());
}

}  // namespace
}  // namespace uvm::agent
