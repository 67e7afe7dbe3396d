#include "store/image_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>

#include "base/fs.h"
#include "base/sha256.h"
#include "store/ext4_image.h"
#include "store/testing/oci_builder.h"
#include "store/testing/tar_builder.h"

namespace uvm::store {
namespace {

using testing::TarBuilder;

// Names of everything under `dir`, recursively, sorted: the store's observable state.
std::vector<std::string> Tree(const std::string& dir, const std::string& rel = "") {
  std::vector<std::string> out;
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir((dir + "/" + rel).c_str()), ::closedir);
  if (!d) return out;
  while (struct dirent* e = ::readdir(d.get())) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    std::string path = rel.empty() ? n : rel + "/" + n;
    out.push_back(path);
    if (e->d_type == DT_DIR) {
      auto sub = Tree(dir, path);
      out.insert(out.end(), sub.begin(), sub.end());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A file of an ext4 image, read with debugfs (no mount needed).
std::string DebugfsCat(const std::string& image, const std::string& path) {
  std::string cmd = "debugfs -R 'cat " + path + "' " + image + " 2>/dev/null";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  ::pclose(p);
  return out;
}

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvm-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::mkdir((dir_ + "/builtin").c_str(), 0755), 0);
    auto s = ImageStore::Open(dir_ + "/root", dir_ + "/builtin");
    ASSERT_TRUE(s) << s.error().message;
    store_.emplace(std::move(*s));
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(dir_)); }
  std::string StoreDir() { return dir_ + "/root/images"; }

  std::string dir_;
  std::optional<ImageStore> store_;
};

TEST_F(ImageStoreTest, ImportRootfsTarListResolveRemove) {
  ASSERT_TRUE(testing::WriteFile(
      dir_ + "/rootfs.tar",
      TarBuilder().Dir("etc").File("etc/hostname", "uvm\n").Symlink("sh", "/bin/sh").Finish()));
  auto r = store_->Import(dir_ + "/rootfs.tar", "mine");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config, DefaultImageConfig());
  EXPECT_EQ(DebugfsCat(r->disk_path, "/etc/hostname"), "uvm\n");
  struct stat st;
  ASSERT_EQ(::stat(r->disk_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);

  auto list = store_->List();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "mine");
  EXPECT_EQ((*list)[0].digest, r->digest);
  auto resolved = store_->Resolve("mine");
  ASSERT_TRUE(resolved) << resolved.error().message;
  EXPECT_EQ(resolved->disk_path, r->disk_path);

  // A second name with the same content shares the disk; removing one keeps it.
  auto again = store_->Import(dir_ + "/rootfs.tar", "other/name:1");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->disk_path, r->disk_path);
  ASSERT_TRUE(store_->Remove("mine"));
  EXPECT_EQ(::access(r->disk_path.c_str(), F_OK), 0);
  EXPECT_FALSE(store_->Resolve("mine"));
  ASSERT_TRUE(store_->Remove("other/name:1"));
  EXPECT_NE(::access(r->disk_path.c_str(), F_OK), 0);
  EXPECT_FALSE(store_->Remove("other/name:1"));
  EXPECT_TRUE(Tree(StoreDir() + "/disks").empty());
}

TEST_F(ImageStoreTest, ImportOciLayoutAppliesLayersAndKeepsConfig) {
  std::vector<testing::TestLayer> layers = {
      testing::GzipLayer(TarBuilder().Dir("a").File("a/x", "x1").File("a/y", "y").Finish()),
      testing::PlainLayer(TarBuilder().File("a/x", "x2").File("a/.wh.y", "").Finish())};
  testing::WriteOciLayout(
      dir_ + "/layout", testing::ConfigJson(layers, R"({"Entrypoint":["/bin/app"],"Cmd":["--flag"],
        "Env":["PATH=/bin","HOME=/root"],"WorkingDir":"/a","User":"1000"})"),
      layers);
  auto r = store_->Import("oci:" + dir_ + "/layout", "app");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(DebugfsCat(r->disk_path, "/a/x"), "x2");
  EXPECT_EQ(DebugfsCat(r->disk_path, "/a/y"), "");
  ImageConfig want{{"/bin/app"}, {"--flag"}, {"PATH=/bin", "HOME=/root"}, "/a", "1000"};
  EXPECT_EQ(r->config, want);
  auto resolved = store_->Resolve("app");
  ASSERT_TRUE(resolved);
  EXPECT_EQ(resolved->config, want);
  EXPECT_EQ(resolved->source, "oci:" + dir_ + "/layout");
}

TEST_F(ImageStoreTest, DirectorySource) {
  const std::string src = dir_ + "/tree";
  ASSERT_TRUE(MakeDirs(src + "/usr/bin"));
  ASSERT_TRUE(testing::WriteFile(src + "/usr/bin/tool", "#!/bin/sh\n"));
  ASSERT_EQ(::link((src + "/usr/bin/tool").c_str(), (src + "/usr/bin/tool2").c_str()), 0);
  auto r = store_->Import(src, "tree");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(DebugfsCat(r->disk_path, "/usr/bin/tool2"), "#!/bin/sh\n");
}

TEST_F(ImageStoreTest, CorruptOrTruncatedImportsLeaveTheStoreAsItWas) {
  ASSERT_TRUE(testing::WriteFile(dir_ + "/good.tar", TarBuilder().File("f", "good").Finish()));
  auto good = store_->Import(dir_ + "/good.tar", "victim");
  ASSERT_TRUE(good) << good.error().message;
  const std::vector<std::string> before = Tree(StoreDir());
  const std::string record_before = *ReadFileLimited(StoreDir() + "/records/victim.json", 1 << 20);

  // A truncated layer blob in an OCI layout, imported over the existing name.
  std::string tar = TarBuilder().File("big", std::string(20000, 'z')).Finish();
  std::vector<testing::TestLayer> layers = {testing::GzipLayer(tar)};
  testing::WriteOciLayout(dir_ + "/layout", testing::ConfigJson(layers, "{}"), layers);
  const std::string blob = dir_ + "/layout/blobs/sha256/" + Sha256Digest(layers[0].bytes).substr(7);
  ASSERT_EQ(::truncate(blob.c_str(), static_cast<off_t>(layers[0].bytes.size() / 2)), 0);
  auto r = store_->Import("oci:" + dir_ + "/layout", "victim");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);

  // A layer with its bytes changed but its size kept: the digest catches it.
  layers = {testing::PlainLayer(tar)};
  ASSERT_TRUE(RemoveTree(dir_ + "/layout"));
  testing::WriteOciLayout(dir_ + "/layout", testing::ConfigJson(layers, "{}"), layers);
  std::string changed = tar;
  changed[600] = 'Q';
  ASSERT_TRUE(
      testing::WriteFile(dir_ + "/layout/blobs/sha256/" + Sha256Digest(tar).substr(7), changed));
  r = store_->Import("oci:" + dir_ + "/layout", "victim");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("digest"), std::string::npos) << r.error().message;

  // A truncated rootfs tar and a truncated archive source.
  ASSERT_TRUE(testing::WriteFile(dir_ + "/cut.tar", tar.substr(0, 3000)));
  EXPECT_FALSE(store_->Import(dir_ + "/cut.tar", "victim"));
  EXPECT_FALSE(store_->Import("docker-archive:" + dir_ + "/cut.tar", "victim"));
  EXPECT_FALSE(store_->Import("oci-archive:" + dir_ + "/cut.tar", "new"));

  EXPECT_EQ(Tree(StoreDir()), before);
  EXPECT_EQ(*ReadFileLimited(StoreDir() + "/records/victim.json", 1 << 20), record_before);
  EXPECT_EQ(DebugfsCat(good->disk_path, "/f"), "good");
}

TEST_F(ImageStoreTest, BuiltinBusyboxIsImportedOnFirstUse) {
  EXPECT_FALSE(store_->Resolve("busybox"));  // no built-in tar yet: a clear error
  ASSERT_TRUE(
      testing::WriteFile(dir_ + "/builtin/" + kBusyboxRootfsFile,
                         TarBuilder().Dir("bin").File("bin/busybox", "ELF", 0755).Finish()));
  auto r = store_->Resolve("busybox");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config, BusyboxConfig());
  EXPECT_EQ(r->source, "built-in");
  auto list = store_->List();
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 1u);
  EXPECT_FALSE(store_->Resolve("nonesuch"));
  EXPECT_FALSE(store_->Resolve("../x"));
}

TEST_F(ImageStoreTest, StaleWorkOfDeadImportsIsRemoved) {
  const std::string old_work = StoreDir() + "/tmp/import-dead01";
  const std::string live_work = StoreDir() + "/tmp/import-live01";
  ASSERT_TRUE(MakeDirs(old_work + "/rootfs"));
  ASSERT_TRUE(MakeDirs(live_work));
  struct timespec two_days_ago[2] = {{std::time(nullptr) - 2 * 86400, 0},
                                     {std::time(nullptr) - 2 * 86400, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, old_work.c_str(), two_days_ago, 0), 0);
  ASSERT_TRUE(testing::WriteFile(dir_ + "/r.tar", TarBuilder().File("f", "x").Finish()));
  ASSERT_TRUE(store_->Import(dir_ + "/r.tar", "x"));
  EXPECT_NE(::access(old_work.c_str(), F_OK), 0);
  EXPECT_EQ(::access(live_work.c_str(), F_OK), 0);
}

TEST(Ext4SizeTest, EstimateCoversContent) {
  TreeSize s{25600, 1000};  // 100 MiB of data
  EXPECT_GE(ImageBytesFor(s), 100ull << 20);
  EXPECT_LE(ImageBytesFor(s), 140ull << 20);
  EXPECT_EQ(ImageBytesFor(s) % (1 << 20), 0u);
}

}  // namespace
}  // namespace uvm::store
