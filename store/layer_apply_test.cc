#include "store/layer_apply.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fstream>
#include <sstream>

#include "base/fs.h"
#include "base/sha256.h"
#include "store/testing/tar_builder.h"

namespace uvm::store {
namespace {

using testing::TarBuilder;

class LayerApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvm-layer-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/root";
    ASSERT_EQ(::mkdir(root_.c_str(), 0755), 0);
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(dir_)); }

  Result<std::unique_ptr<LayerStream>> Stream(const std::string& bytes) {
    UniqueFd fd(::memfd_create("layer", MFD_CLOEXEC));
    EXPECT_EQ(::write(fd.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::lseek(fd.get(), 0, SEEK_SET);
    return LayerStream::Open(std::move(fd), "layer");
  }
  Result<void> Apply(const std::string& bytes, bool whiteouts = true) {
    UVM_TRY(std::unique_ptr<LayerStream> s, Stream(bytes));
    ApplyOptions o;
    o.whiteouts = whiteouts;
    return ApplyLayer(*s, root_, o);
  }
  std::string Read(const std::string& rel) {
    std::ifstream f(root_ + "/" + rel);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  bool Exists(const std::string& rel) {
    struct stat st;
    return ::lstat((root_ + "/" + rel).c_str(), &st) == 0;
  }
  std::string dir_, root_;
};

TEST(SplitEntryPathTest, Normalises) {
  EXPECT_EQ(*SplitEntryPath("./a//b/./c/"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(*SplitEntryPath("/etc/passwd"), (std::vector<std::string>{"etc", "passwd"}));
  EXPECT_TRUE(SplitEntryPath("./")->empty());
  EXPECT_FALSE(SplitEntryPath("a/../../b"));
  EXPECT_FALSE(SplitEntryPath(".."));
}

TEST_F(LayerApplyTest, LaterLayersWinInOrder) {
  ASSERT_TRUE(Apply(TarBuilder().Dir("etc").File("etc/a", "one").File("etc/b", "b").Finish()));
  ASSERT_TRUE(Apply(TarBuilder().File("etc/a", "two").Finish()));
  EXPECT_EQ(Read("etc/a"), "two");
  EXPECT_EQ(Read("etc/b"), "b");
}

TEST_F(LayerApplyTest, WhiteoutRemovesLowerFileAndDirectory) {
  ASSERT_TRUE(Apply(TarBuilder()
                        .File("keep", "k")
                        .File("gone", "g")
                        .Dir("dir")
                        .File("dir/x", "x")
                        .Dir("dir/sub")
                        .File("dir/sub/y", "y")
                        .Finish()));
  ASSERT_TRUE(Apply(TarBuilder().File(".wh.gone", "").File("dir/.wh.sub", "").Finish()));
  EXPECT_TRUE(Exists("keep"));
  EXPECT_FALSE(Exists("gone"));
  EXPECT_FALSE(Exists(".wh.gone"));
  EXPECT_TRUE(Exists("dir/x"));
  EXPECT_FALSE(Exists("dir/sub"));
}

TEST_F(LayerApplyTest, WhiteoutDoesNotHideItsOwnLayer) {
  ASSERT_TRUE(Apply(TarBuilder().File("f", "lower").Finish()));
  // The whiteout comes after the same layer's new file: the new file stays (layer.md).
  ASSERT_TRUE(Apply(TarBuilder().File("f", "upper").File(".wh.f", "").Finish()));
  EXPECT_EQ(Read("f"), "upper");
}

TEST_F(LayerApplyTest, OpaqueDirectoryHidesLowerEntriesWhereverTheMarkerIs) {
  ASSERT_TRUE(Apply(TarBuilder()
                        .Dir("d")
                        .File("d/old", "o")
                        .Dir("d/sub")
                        .File("d/sub/old2", "o")
                        .File("other", "x")
                        .Finish()));
  // Marker after this layer's entries, one of them re-creating d/sub.
  ASSERT_TRUE(Apply(TarBuilder()
                        .Dir("d")
                        .File("d/new", "n")
                        .Dir("d/sub")
                        .File("d/sub/new2", "n")
                        .File("d/.wh..wh..opq", "")
                        .Finish()));
  EXPECT_TRUE(Exists("d/new"));
  EXPECT_TRUE(Exists("d/sub/new2"));
  EXPECT_FALSE(Exists("d/old"));
  EXPECT_FALSE(Exists("d/sub/old2"));
  EXPECT_FALSE(Exists("d/.wh..wh..opq"));
  EXPECT_TRUE(Exists("other"));
}

TEST_F(LayerApplyTest, OpaqueMarkerFirst) {
  ASSERT_TRUE(Apply(TarBuilder().Dir("d").File("d/old", "o").Finish()));
  ASSERT_TRUE(Apply(TarBuilder().Dir("d").File("d/.wh..wh..opq", "").File("d/new", "n").Finish()));
  EXPECT_FALSE(Exists("d/old"));
  EXPECT_TRUE(Exists("d/new"));
}

TEST_F(LayerApplyTest, PlainRootfsKeepsWhiteoutNamesLiterally) {
  ASSERT_TRUE(Apply(TarBuilder().File(".wh.x", "literal").Finish(), /*whiteouts=*/false));
  EXPECT_EQ(Read(".wh.x"), "literal");
}

TEST_F(LayerApplyTest, FileReplacesLowerDirectory) {
  ASSERT_TRUE(Apply(TarBuilder().Dir("p").File("p/x", "x").Finish()));
  ASSERT_TRUE(Apply(TarBuilder().File("p", "file now").Finish()));
  EXPECT_EQ(Read("p"), "file now");
}

TEST_F(LayerApplyTest, UpperEntriesReplaceLowerSymlinks) {
  ASSERT_TRUE(Apply(TarBuilder()
                        .Dir("usr")
                        .Dir("usr/lib")
                        .Symlink("lib", "usr/lib")
                        .Symlink("conf", "/etc/conf")
                        .Finish()));
  // A directory replaces the symlink (it is not followed), a file replaces the other.
  ASSERT_TRUE(Apply(TarBuilder().Dir("lib").File("lib/x", "x").File("conf", "c").Finish()));
  struct stat st;
  ASSERT_EQ(::lstat((root_ + "/lib").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(Read("lib/x"), "x");
  EXPECT_FALSE(Exists("usr/lib/x"));
  ASSERT_EQ(::lstat((root_ + "/conf").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(LayerApplyTest, LinksModesAndDevices) {
  ASSERT_TRUE(Apply(TarBuilder()
                        .Dir("bin")
                        .File("bin/busybox", "ELF", 04755, 0, 0)
                        .Symlink("bin/sh", "/bin/busybox")
                        .Hardlink("bin/ls", "bin/busybox")
                        .File("home", "h", 0600, 65534, 65534)
                        .CharDevice("null", 1, 3)
                        .Fifo("fifo")
                        .Finish()));
  struct stat a, b;
  ASSERT_EQ(::lstat((root_ + "/bin/busybox").c_str(), &a), 0);
  ASSERT_EQ(::lstat((root_ + "/bin/ls").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_mode & 07777, 04755u);
  char target[64] = {};
  ASSERT_GT(::readlink((root_ + "/bin/sh").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "/bin/busybox");
  ASSERT_EQ(::lstat((root_ + "/fifo").c_str(), &a), 0);
  EXPECT_TRUE(S_ISFIFO(a.st_mode));
  if (::geteuid() != 0) GTEST_SKIP() << "owners and device nodes need root";
  ASSERT_EQ(::lstat((root_ + "/home").c_str(), &a), 0);
  EXPECT_EQ(a.st_uid, 65534u);
  EXPECT_EQ(a.st_gid, 65534u);
  ASSERT_EQ(::lstat((root_ + "/null").c_str(), &a), 0);
  EXPECT_TRUE(S_ISCHR(a.st_mode));
  EXPECT_EQ(a.st_rdev, makedev(1, 3));
}

TEST_F(LayerApplyTest, DotDotIsRefused) {
  auto r = Apply(TarBuilder().File("../escaped", "x").Finish());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(".."), std::string::npos) << r.error().message;
  EXPECT_FALSE(Exists("../escaped"));
  r = Apply(TarBuilder().File("f", "x").Hardlink("l", "../../etc/passwd").Finish());
  EXPECT_FALSE(r);
  r = Apply(TarBuilder().File("a/../../.wh.root", "").Finish());
  EXPECT_FALSE(r);
}

TEST_F(LayerApplyTest, AbsoluteNamesStayInsideTheRoot) {
  ASSERT_TRUE(Apply(TarBuilder().File("/abs", "x").Finish()));
  EXPECT_EQ(Read("abs"), "x");
}

TEST_F(LayerApplyTest, NothingIsWrittenThroughAPlantedSymlink) {
  const std::string outside = dir_ + "/outside";
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  ASSERT_TRUE(testing::WriteFile(outside + "/victim", "safe"));
  auto r = Apply(TarBuilder().Symlink("evil", outside).File("evil/planted", "x").Finish());
  EXPECT_FALSE(r);
  EXPECT_FALSE(Exists("../outside/planted"));
  // Across layers too, and for whiteouts and hard links.
  r = Apply(TarBuilder().File("evil/.wh.victim", "").Finish());
  EXPECT_FALSE(r);
  r = Apply(TarBuilder().Hardlink("h", "evil/victim").Finish());
  EXPECT_FALSE(r);
  r = Apply(TarBuilder().Dir("evil/.wh..wh..opq").Finish());
  EXPECT_FALSE(r);
  std::ifstream f(outside + "/victim");
  std::string content;
  f >> content;
  EXPECT_EQ(content, "safe");
}

TEST_F(LayerApplyTest, GzipLayerAndDigests) {
  std::string tar = TarBuilder().File("a", "hello").Finish();
  std::string gz = testing::Gzip(tar);
  auto s = Stream(gz);
  ASSERT_TRUE(s);
  ASSERT_TRUE(ApplyLayer(**s, root_, ApplyOptions{}));
  EXPECT_EQ(Read("a"), "hello");
  EXPECT_EQ((*s)->blob_digest(), Sha256Digest(gz));
  EXPECT_EQ((*s)->diff_id(), Sha256Digest(tar));
  EXPECT_EQ((*s)->blob_size(), gz.size());
}

TEST_F(LayerApplyTest, TruncatedOrCorruptLayersFailClearly) {
  std::string tar = TarBuilder().File("a", std::string(5000, 'x')).File("b", "y").Finish();
  auto r = Apply(tar.substr(0, 2000));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("layer"), std::string::npos) << r.error().message;
  std::string gz = testing::Gzip(tar);
  r = Apply(gz.substr(0, gz.size() / 2));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
  std::string bad = gz;
  bad[gz.size() / 2] ^= 0x55;
  bad[gz.size() / 2 + 1] ^= 0x55;
  EXPECT_FALSE(Apply(bad));
  EXPECT_FALSE(Apply("this is not a tar archive at all, just some text" + std::string(600, '!')));
  r = Apply("\x28\xb5\x2f\xfd" + std::string(100, '\0'));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("zstd"), std::string::npos);
}

}  // namespace
}  // namespace uvm::store
