#include "store/oci_layout.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "base/fs.h"
#include "base/sha256.h"
#include "store/testing/oci_builder.h"
#include "store/testing/tar_builder.h"

namespace uvm::store {
namespace {

using testing::TarBuilder;

const std::string kDigestA = "sha256:" + std::string(64, 'a');

TEST(OciIndexTest, ParsesDescriptors) {
  auto m = ParseIndex(R"({"schemaVersion":2,"manifests":[
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                      kDigestA +
                      R"(","size":7,"annotations":{"org.opencontainers.image.ref.name":"v1"},
     "platform":{"os":"linux","architecture":"amd64"}}]})");
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].digest, kDigestA);
  EXPECT_EQ((*m)[0].size, 7);
  EXPECT_EQ((*m)[0].ref_name, "v1");
  EXPECT_EQ((*m)[0].architecture, "amd64");
}

TEST(OciIndexTest, Refusals) {
  for (std::string bad :
       {std::string("{}"), std::string(R"({"manifests":[]})"),
        std::string(R"({"manifests":[{"digest":"sha256:abc","size":1}]})"),
        R"({"manifests":[{"digest":")" + kDigestA + R"("}]})",
        R"({"manifests":[{"digest":")" + kDigestA + R"(","size":-1}]})",
        R"({"schemaVersion":1,"manifests":[{"digest":")" + kDigestA + R"(","size":1}]})",
        std::string(R"({"manifests":{}})")}) {
    EXPECT_FALSE(ParseIndex(bad)) << bad;
  }
}

TEST(OciManifestTest, ConfigAndLayers) {
  auto m = ParseManifest(R"({"schemaVersion":2,"config":{"digest":")" + kDigestA +
                         R"(","size":3},"layers":[{"digest":")" + kDigestA + R"(","size":9}]})");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->config.size, 3);
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_FALSE(ParseManifest(R"({"schemaVersion":2})"));
  EXPECT_FALSE(ParseManifest(R"({"schemaVersion":2,"mediaType":"text/plain","config":{"digest":")" +
                             kDigestA + R"(","size":3}})"));
}

TEST(OciSelectTest, ByRefOnlyOrPlatform) {
  Descriptor a{"", kDigestA, 1, "a", "linux", "arm64"};
  Descriptor b{"", kDigestA, 2, "b", "linux", "amd64"};
  EXPECT_EQ(SelectManifest({a, b}, "a")->size, 1);
  EXPECT_EQ(SelectManifest({a, b}, "")->size, 2);
  EXPECT_EQ(SelectManifest({a}, "")->size, 1);
  auto r = SelectManifest({a, b}, "c");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("\"a\", \"b\""), std::string::npos) << r.error().message;
  EXPECT_FALSE(SelectManifest({b, b}, ""));
}

class OciLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvm-oci-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(dir_)); }
  std::string dir_;
};

TEST_F(OciLayoutTest, FollowsIndexToLayers) {
  std::vector<testing::TestLayer> layers = {
      testing::GzipLayer(TarBuilder().File("a", "1").Finish()),
      testing::PlainLayer(TarBuilder().File("b", "2").Finish())};
  testing::WriteOciLayout(dir_, testing::ConfigJson(layers, R"({"Cmd":["sh"]})"), layers, "v1");
  auto plan = PlanOciLayout(dir_, "");
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->config.cmd, std::vector<std::string>{"sh"});
  ASSERT_EQ(plan->layers.size(), 2u);
  EXPECT_EQ(plan->layers[0].diff_id, layers[0].diff_id);
  EXPECT_EQ(plan->layers[0].blob_digest, Sha256Digest(layers[0].bytes));
  EXPECT_EQ(plan->layers[1].blob_size, static_cast<int64_t>(layers[1].bytes.size()));
  EXPECT_TRUE(PlanOciLayout(dir_, "v1"));
  EXPECT_FALSE(PlanOciLayout(dir_, "v2"));
}

TEST_F(OciLayoutTest, CorruptConfigBlobIsRefused) {
  std::vector<testing::TestLayer> layers = {testing::PlainLayer(TarBuilder().Finish())};
  std::string config = testing::ConfigJson(layers, "{}");
  testing::WriteOciLayout(dir_, config, layers);
  // Same size, different bytes.
  std::string corrupt = config;
  corrupt[corrupt.size() - 2] = ' ';
  ASSERT_TRUE(
      testing::WriteFile(dir_ + "/blobs/sha256/" + Sha256Digest(config).substr(7), corrupt));
  auto plan = PlanOciLayout(dir_, "");
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().message.find("does not match its digest"), std::string::npos)
      << plan.error().message;
}

TEST_F(OciLayoutTest, MissingLayoutFileAndLayerCountMismatch) {
  EXPECT_FALSE(PlanOciLayout(dir_, ""));
  std::vector<testing::TestLayer> layers = {testing::PlainLayer(TarBuilder().Finish())};
  testing::WriteOciLayout(dir_, testing::ConfigJson({}, "{}"), layers);
  auto plan = PlanOciLayout(dir_, "");
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().message.find("layers"), std::string::npos) << plan.error().message;
}

}  // namespace
}  // namespace uvm::store
