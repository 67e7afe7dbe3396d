#include "store/docker_archive.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/sha256.h"
#include "store/testing/oci_builder.h"
#include "store/testing/tar_builder.h"

namespace uvm::store {
namespace {

TEST(DockerManifestTest, Parses) {
  auto m = ParseDockerManifest(
      R"([{"Config":"c.json","RepoTags":["busybox:latest"],"Layers":["l1/layer.tar","l2.tar"]}])");
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].config, "c.json");
  EXPECT_EQ((*m)[0].repo_tags, std::vector<std::string>{"busybox:latest"});
  EXPECT_EQ((*m)[0].layers.size(), 2u);
  for (const char* bad : {"{}", "[]", "[1]", R"([{"Layers":[]}])", R"([{"Config":1}])",
                          R"([{"Config":"c","Layers":"x"}])"}) {
    EXPECT_FALSE(ParseDockerManifest(bad)) << bad;
  }
}

class DockerArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvm-docker-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(dir_)); }
  std::string dir_;
};

TEST_F(DockerArchiveTest, PlansByTagAndChecksConfigName) {
  std::vector<testing::TestLayer> layers = {
      testing::PlainLayer(testing::TarBuilder().File("a", "1").Finish())};
  std::string config = testing::ConfigJson(layers, R"({"Entrypoint":["/e"]})");
  std::string config_name = Sha256Digest(config).substr(7) + ".json";
  ASSERT_TRUE(testing::WriteFile(dir_ + "/" + config_name, config));
  ASSERT_EQ(::mkdir((dir_ + "/l1").c_str(), 0755), 0);
  ASSERT_TRUE(testing::WriteFile(dir_ + "/l1/layer.tar", layers[0].bytes));
  ASSERT_TRUE(testing::WriteFile(
      dir_ + "/manifest.json",
      R"([{"Config":")" + config_name +
          R"(","RepoTags":["docker.io/library/x:1"],"Layers":["l1/layer.tar"]}])"));
  auto plan = PlanDockerArchive(dir_, "");
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->config.entrypoint, std::vector<std::string>{"/e"});
  ASSERT_EQ(plan->layers.size(), 1u);
  EXPECT_EQ(plan->layers[0].diff_id, layers[0].diff_id);
  EXPECT_TRUE(PlanDockerArchive(dir_, "x:1"));
  EXPECT_TRUE(PlanDockerArchive(dir_, "docker.io/library/x:1"));
  EXPECT_FALSE(PlanDockerArchive(dir_, "x:2"));

  ASSERT_TRUE(testing::WriteFile(dir_ + "/" + config_name, config + " "));
  auto corrupt = PlanDockerArchive(dir_, "");
  ASSERT_FALSE(corrupt);
  EXPECT_NE(corrupt.error().message.find("digest"), std::string::npos);
}

TEST_F(DockerArchiveTest, PathsOutsideTheArchiveAreRefused) {
  ASSERT_TRUE(testing::WriteFile(dir_ + "/manifest.json",
                                 R"([{"Config":"../../etc/passwd","Layers":[]}])"));
  auto plan = PlanDockerArchive(dir_, "");
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().message.find("outside"), std::string::npos) << plan.error().message;
}

}  // namespace
}  // namespace uvm::store
