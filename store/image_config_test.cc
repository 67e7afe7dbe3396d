#include "store/image_config.h"

#include <gtest/gtest.h>

#include "store/image_record.h"

namespace uvm::store {
namespace {

TEST(ImageConfigTest, ProcessFieldsAndDiffIds) {
  auto c = ParseImageConfig(R"({"architecture":"amd64","os":"linux",
    "config":{"Entrypoint":["/bin/ep"],"Cmd":["-x","y"],"Env":["PATH=/bin","A=b=c"],
              "WorkingDir":"/srv","User":"1000:1000","Labels":{"x":"y"}},
    "rootfs":{"type":"layers","diff_ids":["sha256:)" +
                            std::string(64, 'a') + R"("]}})");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->config.entrypoint, std::vector<std::string>{"/bin/ep"});
  EXPECT_EQ(c->config.cmd, (std::vector<std::string>{"-x", "y"}));
  EXPECT_EQ(c->config.env, (std::vector<std::string>{"PATH=/bin", "A=b=c"}));
  EXPECT_EQ(c->config.working_dir, "/srv");
  EXPECT_EQ(c->config.user, "1000:1000");
  ASSERT_EQ(c->diff_ids.size(), 1u);
}

TEST(ImageConfigTest, NullAndMissingMembersAreEmpty) {
  auto c = ParseImageConfig(R"({"config":{"Entrypoint":null,"Cmd":null},"rootfs":null})");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->config, ImageConfig{});
  EXPECT_TRUE(ParseImageConfig("{}"));
}

TEST(ImageConfigTest, Refusals) {
  for (const char* bad : {"", "[]", "{", R"({"config":{"Cmd":"sh"}})", R"({"config":{"Cmd":[1]}})",
                          R"({"config":{"Env":["NOEQUALS"]}})", R"({"config":{"WorkingDir":5}})",
                          R"({"architecture":"arm64"})", R"({"os":"windows"})",
                          R"({"rootfs":{"type":"layers","diff_ids":["md5:abc"]}})",
                          R"({"rootfs":{"type":"other"}})", R"({"config":[]})"}) {
    auto c = ParseImageConfig(bad);
    EXPECT_FALSE(c) << bad;
    if (!c) {
      EXPECT_EQ(c.error().message.find('\n'), std::string::npos);
    }
  }
}

TEST(ImageRecordTest, RoundTrip) {
  ImageRecord r;
  r.name = "library/alpine:3.19";
  r.digest = "sha256:" + std::string(64, 'b');
  r.disk = std::string(64, 'b') + ".ext4";
  r.disk_bytes = 123;
  r.source = "oci:/x";
  r.created = 42;
  r.config = {{"/ep"}, {"sh"}, {"PATH=/bin"}, "/w", "nobody"};
  auto back = ParseImageRecord(SerializeImageRecord(r));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->name, r.name);
  EXPECT_EQ(back->digest, r.digest);
  EXPECT_EQ(back->disk, r.disk);
  EXPECT_EQ(back->disk_bytes, 123u);
  EXPECT_EQ(back->created, 42);
  EXPECT_EQ(back->config, r.config);
  EXPECT_FALSE(ParseImageRecord(R"({"name":"a","digest":"d","disk":"../x"})"));
}

TEST(ImageRecordTest, Names) {
  for (const char* ok : {"busybox", "library/alpine:3.19", "a", "img@sha256:ab", "x_y-z.1"}) {
    EXPECT_TRUE(CheckImageName(ok)) << ok;
  }
  for (const char* bad : {"", "-x", ".x", "/x", "a b", "a..b", "a+b", "a\nb"}) {
    EXPECT_FALSE(CheckImageName(bad)) << bad;
  }
  EXPECT_FALSE(CheckImageName(std::string(129, 'a')));
  EXPECT_EQ(RecordFileName("library/alpine:3"), "library+alpine:3.json");
}

}  // namespace
}  // namespace uvm::store
