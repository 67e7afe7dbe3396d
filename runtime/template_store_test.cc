#include "runtime/template_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>

#include "base/fs.h"

namespace uvm::runtime {
namespace {

// A store with two complete templates made from files of its own: one of no image, one prepared
// for an image disk. Complete means what Find() and List() look for: `state` and template.json.
class RemoveStaleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create(::testing::TempDir(), "template-store-");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_.emplace(std::move(*dir));
    root_ = dir_->path();
    plain_.kernel = WriteFile("vmlinux", "kernel");
    plain_.initrd = WriteFile("agent.cpio.gz", "agent");
    with_image_ = plain_;
    with_image_.image_disk = WriteFile("busybox.img", "disk");
    with_image_.image_name = "busybox";
    plain_key_ = MakeTemplate(plain_);
    image_key_ = MakeTemplate(with_image_);
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = root_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string MakeTemplate(const TemplateShape& shape) {
    auto key = TemplateKey(shape);
    EXPECT_TRUE(key) << key.error().message;
    const std::string dir = root_ + "/templates/" + *key;
    EXPECT_TRUE(MakeDirs(dir, 0755));
    std::ofstream(dir + "/state") << "saved";
    EXPECT_TRUE(WriteTemplateInfo(dir, shape));
    return *key;
  }

  std::vector<std::string> Removed() {
    auto removed = TemplateStore(root_).RemoveStale();
    EXPECT_TRUE(removed) << removed.error().message;
    return removed ? *removed : std::vector<std::string>{};
  }

  // Replaces a file the way a rebuild or re-import does: a new file under the old name.
  void Replace(const std::string& path) {
    ASSERT_EQ(::unlink(path.c_str()), 0);
    std::ofstream(path) << "rebuilt, and longer";
  }

  std::optional<TempDir> dir_;
  std::string root_;
  TemplateShape plain_, with_image_;
  std::string plain_key_, image_key_;
};

TEST_F(RemoveStaleTest, TemplatesWhoseFilesAreUnchangedStay) {
  EXPECT_TRUE(Removed().empty());
  TemplateStore store(root_);
  EXPECT_TRUE(store.Find(plain_key_));
  EXPECT_TRUE(store.Find(image_key_));
}

TEST_F(RemoveStaleTest, ARemovedImageTakesItsTemplateAlong) {
  ASSERT_EQ(::unlink(with_image_.image_disk.c_str()), 0);
  EXPECT_EQ(Removed(), std::vector<std::string>{image_key_});
  TemplateStore store(root_);
  EXPECT_FALSE(store.Find(image_key_));
  EXPECT_TRUE(store.Find(plain_key_));
}

TEST_F(RemoveStaleTest, ARebuiltKernelMakesEveryTemplateOfItStale) {
  Replace(plain_.kernel);
  std::vector<std::string> removed = Removed();
  std::sort(removed.begin(), removed.end());
  std::vector<std::string> both = {plain_key_, image_key_};
  std::sort(both.begin(), both.end());
  EXPECT_EQ(removed, both);
  auto left = TemplateStore(root_).List();
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty());
}

TEST_F(RemoveStaleTest, AReimportedImageDiskMakesItsTemplateStale) {
  Replace(with_image_.image_disk);
  EXPECT_EQ(Removed(), std::vector<std::string>{image_key_});
}

TEST_F(RemoveStaleTest, ATemplateStillBeingMadeIsLeftAlone) {
  // Create() writes into a .new-KEY-* directory and renames it into place; until then it has no
  // key-named directory, and a key-named one without `state` is not a template yet either.
  Replace(plain_.kernel);
  const std::string half = root_ + "/templates/0123456789abcdef";
  ASSERT_TRUE(MakeDirs(half, 0755));
  Removed();
  EXPECT_EQ(::access(half.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace uvm::runtime
