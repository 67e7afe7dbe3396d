#include "base/fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace uvm {
namespace {

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("/tmp", "uvm-fs-test-");
    ASSERT_TRUE(d) << d.error().message;
    dir_.emplace(std::move(*d));
  }
  std::string Path(const std::string& name) const { return dir_->path() + "/" + name; }
  void Write(const std::string& name, const std::string& content) {
    std::ofstream(Path(name)) << content;
  }
  std::optional<TempDir> dir_;
};

TEST_F(FsTest, TempDirGoesWithItsContentUnlessReleased) {
  std::string kept, gone;
  {
    auto a = TempDir::Create(dir_->path(), "a-");
    auto b = TempDir::Create(dir_->path(), "b-");
    ASSERT_TRUE(a && b);
    gone = a->path();
    std::ofstream(gone + "/file") << "x";
    ASSERT_EQ(::mkdir((gone + "/sub").c_str(), 0700), 0);
    kept = b->Release();
  }
  EXPECT_NE(::access(gone.c_str(), F_OK), 0);
  EXPECT_EQ(::access(kept.c_str(), F_OK), 0);
}

TEST_F(FsTest, NamedTempDirIsPrivateAndNeverReused) {
  auto d = TempDir::CreateNamed(Path("run-1234"));
  ASSERT_TRUE(d) << d.error().message;
  struct stat st;
  ASSERT_EQ(::stat(d->path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto again = TempDir::CreateNamed(Path("run-1234"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kExists);
}

TEST_F(FsTest, AtomicWriteThenBoundedRead) {
  ASSERT_TRUE(WriteFileAtomic(Path("f"), "hello"));
  auto r = ReadFileLimited(Path("f"), 5);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "hello");
  EXPECT_FALSE(ReadFileLimited(Path("f"), 4));
  auto missing = ReadFileLimited(Path("nope"), 4);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(FsTest, RemoveTreeRemovesLinksNotWhatTheyPointAt) {
  Write("outside", "keep me");
  ASSERT_TRUE(MakeDirs(Path("tree/a/b")));
  ASSERT_EQ(::symlink(Path("outside").c_str(), Path("tree/a/link").c_str()), 0);
  ASSERT_EQ(::symlink(dir_->path().c_str(), Path("tree/a/b/up").c_str()), 0);
  ASSERT_TRUE(RemoveTree(Path("tree")));
  EXPECT_NE(::access(Path("tree").c_str(), F_OK), 0);
  auto kept = ReadFileLimited(Path("outside"), 100);
  ASSERT_TRUE(kept);
  EXPECT_EQ(*kept, "keep me");
  EXPECT_TRUE(RemoveTree(Path("tree")));  // already gone: not an error
}

// procfs files say they are empty; they are read to their end.
TEST_F(FsTest, ProcFilesAreReadToTheirEnd) {
  auto stat = ReadToEndLimited("/proc/self/stat", 4096);
  ASSERT_TRUE(stat) << stat.error().message;
  EXPECT_EQ(stat->rfind(std::to_string(::getpid()) + " (", 0), 0u) << *stat;
  EXPECT_FALSE(ReadToEndLimited("/proc/self/stat", 3));
}

TEST_F(FsTest, FileTailKeepsTheEnd) {
  Write("log", "0123456789");
  EXPECT_EQ(FileTail(Path("log"), 100), "0123456789");
  EXPECT_EQ(FileTail(Path("log"), 4), "...6789");
  EXPECT_EQ(FileTail(Path("nope"), 4), "");
}

// A build tree keeps the images beside the binary; `make install` puts the binary in PREFIX/bin
// and the images in PREFIX/lib/uvm/images.
TEST_F(FsTest, ImagesAreBesideTheBinaryOrWhereInstallPutThem) {
  ASSERT_TRUE(MakeDirs(Path("build/images")));
  EXPECT_EQ(ImagesDirOf(Path("build")), Path("build/images"));
  ASSERT_TRUE(MakeDirs(Path("usr/bin")));
  ASSERT_TRUE(MakeDirs(Path("usr/lib/uvm/images")));
  EXPECT_EQ(ImagesDirOf(Path("usr/bin")), Path("usr/lib/uvm/images"));
  EXPECT_EQ(ImagesDirOf(Path("nowhere/bin")), Path("nowhere/bin/images"));
}

TEST_F(FsTest, FindInPathFindsAShell) {
  auto sh = FindInPath("sh");
  ASSERT_TRUE(sh);
  EXPECT_EQ(::access(sh->c_str(), X_OK), 0);
  EXPECT_FALSE(FindInPath("uvm-no-such-program"));
}

}  // namespace
}  // namespace uvm
