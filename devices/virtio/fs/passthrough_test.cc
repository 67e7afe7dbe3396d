// Every operation the session serves, against a scratch share, checked against the host's view.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <set>
#include <utility>

#include "devices/virtio/fs/fs_test_fixture.h"

namespace uvm::devices::virtio::fs {
namespace {

using testing::Args;

class PassthroughTest : public testing::FsFixture {
 protected:
  void SetUp() override {
    FsFixture::SetUp();
    auto init = Init();
    ASSERT_EQ(init.error(), 0);
  }

  fuse_entry_out Create(uint64_t parent, const std::string& name, uint32_t mode, uint64_t* fh) {
    fuse_create_in in{};
    in.flags = O_RDWR | O_CREAT;
    in.mode = S_IFREG | mode;
    auto a = Call(FUSE_CREATE, parent, Args().Struct(in).Name(name));
    EXPECT_EQ(a.error(), 0) << name;
    EXPECT_EQ(a.body.size(), sizeof(fuse_entry_out) + sizeof(fuse_open_out));
    fuse_open_out open{};
    if (a.body.size() >= sizeof(fuse_entry_out) + sizeof(open)) {
      std::memcpy(&open, a.body.data() + sizeof(fuse_entry_out), sizeof(open));
    }
    *fh = open.fh;
    return a.As<fuse_entry_out>();
  }

  fuse_entry_out MakeDir(uint64_t parent, const std::string& name) {
    fuse_mkdir_in in{};
    in.mode = 0755;
    auto a = Call(FUSE_MKDIR, parent, Args().Struct(in).Name(name));
    EXPECT_EQ(a.error(), 0) << name;
    return a.As<fuse_entry_out>();
  }

  // The names READDIR (or READDIRPLUS) lists in the directory `node`.
  std::set<std::string> List(uint64_t node, bool plus, uint32_t size = 4096) {
    const uint64_t fh = Open(node, O_RDONLY, true);
    std::set<std::string> names;
    uint64_t offset = 0;
    for (int round = 0; round < 1000; ++round) {
      auto a = Read(node, fh, offset, size, plus ? FUSE_READDIRPLUS : FUSE_READDIR);
      EXPECT_EQ(a.error(), 0);
      if (a.body.empty()) break;
      for (size_t at = 0; at < a.body.size();) {
        if (plus) at += sizeof(fuse_entry_out);
        fuse_dirent d;
        std::memcpy(&d, a.body.data() + at, sizeof(d));
        names.insert(
            std::string(reinterpret_cast<const char*>(a.body.data() + at + sizeof(d)), d.namelen));
        offset = d.off;
        at += FUSE_DIRENT_ALIGN(sizeof(d) + d.namelen);
      }
    }
    fuse_release_in rel{};
    rel.fh = fh;
    EXPECT_EQ(Call(FUSE_RELEASEDIR, node, Args().Struct(rel)).error(), 0);
    return names;
  }
};

TEST_F(PassthroughTest, InitNegotiatesWhatBothOffer) {
  // SetUp's INIT offered POSIX locks, which uvm does not take: the guest locks locally.
  Restart(ShareConfig{});
  auto a = Init(36);
  ASSERT_EQ(a.error(), 0);
  auto out = a.As<fuse_init_out>();
  EXPECT_EQ(out.major, uint32_t{FUSE_KERNEL_VERSION});
  EXPECT_EQ(out.minor, 36u);
  EXPECT_EQ(out.max_write, kMaxIoBytes);
  EXPECT_TRUE(out.flags & FUSE_DO_READDIRPLUS);
  EXPECT_FALSE(out.flags & FUSE_POSIX_LOCKS);
  EXPECT_FALSE(out.flags & FUSE_WRITEBACK_CACHE);  // not offered by this driver either way
  // A second INIT is a protocol error; an old driver is refused.
  EXPECT_EQ(Init().error(), EPROTO);
  Restart(ShareConfig{});
  EXPECT_EQ(Init(26).error(), EPROTO);
}

TEST_F(PassthroughTest, RequestsBeforeInitFail) {
  Restart(ShareConfig{});
  EXPECT_EQ(Call(FUSE_GETATTR, 1, Args().Struct(fuse_getattr_in{})).error(), EIO);
}

TEST_F(PassthroughTest, LookupAndGetattrSeeTheHostFile) {
  WriteHostFile(HostPath("f"), "hello");
  auto e = Lookup(1, "f");
  EXPECT_GT(e.nodeid, 1u);
  EXPECT_EQ(e.attr.size, 5u);
  EXPECT_TRUE(S_ISREG(e.attr.mode));
  struct stat st;
  ASSERT_EQ(::stat(HostPath("f").c_str(), &st), 0);
  EXPECT_EQ(e.attr.ino, st.st_ino);
  // The same inode, the same node id, one more lookup.
  EXPECT_EQ(Lookup(1, "f").nodeid, e.nodeid);
  auto g = Call(FUSE_GETATTR, e.nodeid, Args().Struct(fuse_getattr_in{}));
  ASSERT_EQ(g.error(), 0);
  EXPECT_EQ(g.As<fuse_attr_out>().attr.size, 5u);
  EXPECT_EQ(Call(FUSE_LOOKUP, 1, Args().Name("missing")).error(), ENOENT);
  EXPECT_EQ(Lookup(1, ".").nodeid, 1u);
  EXPECT_EQ(Lookup(1, "..").nodeid, 1u);  // ".." of the root is the root
}

TEST_F(PassthroughTest, ForgetDropsTheNodeAndItsIdIsNeverReused) {
  WriteHostFile(HostPath("f"), "x");
  const uint64_t id = Lookup(1, "f").nodeid;
  Lookup(1, "f");
  Forget(id, 1);
  EXPECT_EQ(Call(FUSE_GETATTR, id, Args().Struct(fuse_getattr_in{})).error(), 0);
  Forget(id, 1);
  EXPECT_EQ(Call(FUSE_GETATTR, id, Args().Struct(fuse_getattr_in{})).error(), ENOENT);
  EXPECT_NE(Lookup(1, "f").nodeid, id);
}

TEST_F(PassthroughTest, CreateWriteReadAndTheHostSeesIt) {
  uint64_t fh = 0;
  uid = 1234;
  gid = 5678;
  auto e = Create(1, "new", 0640, &fh);
  ASSERT_NE(fh, 0u);
  auto w = Write(e.nodeid, fh, 0, "written by the guest");
  ASSERT_EQ(w.error(), 0);
  EXPECT_EQ(w.As<fuse_write_out>().size, 20u);
  EXPECT_EQ(ReadHostFile(HostPath("new")), "written by the guest");
  struct stat st;
  ASSERT_EQ(::stat(HostPath("new").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  if (::geteuid() == 0) {
    EXPECT_EQ(st.st_uid, 1234u);
    EXPECT_EQ(st.st_gid, 5678u);
  }
  WriteHostFile(HostPath("new"), "host wrote this");
  auto r = Read(e.nodeid, fh, 5, 100);
  ASSERT_EQ(r.error(), 0);
  EXPECT_EQ(std::string(r.body.begin(), r.body.end()), "wrote this");
  // flush, fsync, fdatasync, release
  fuse_flush_in fl{};
  fl.fh = fh;
  EXPECT_EQ(Call(FUSE_FLUSH, e.nodeid, Args().Struct(fl)).error(), 0);
  fuse_fsync_in fs{};
  fs.fh = fh;
  EXPECT_EQ(Call(FUSE_FSYNC, e.nodeid, Args().Struct(fs)).error(), 0);
  fs.fsync_flags = 1;
  EXPECT_EQ(Call(FUSE_FSYNC, e.nodeid, Args().Struct(fs)).error(), 0);
  fuse_release_in rel{};
  rel.fh = fh;
  EXPECT_EQ(Call(FUSE_RELEASE, e.nodeid, Args().Struct(rel)).error(), 0);
  EXPECT_EQ(Read(e.nodeid, fh, 0, 10).error(), EBADF);
  EXPECT_EQ(dev_->session().handles().size(), 0u);
  // O_EXCL on an existing name
  fuse_create_in in{};
  in.flags = O_RDWR | O_CREAT | O_EXCL;
  in.mode = S_IFREG | 0600;
  EXPECT_EQ(Call(FUSE_CREATE, 1, Args().Struct(in).Name("new")).error(), EEXIST);
}

TEST_F(PassthroughTest, OpenWithTruncateAndAppend) {
  WriteHostFile(HostPath("f"), "0123456789");
  auto e = Lookup(1, "f");
  uint64_t fh = Open(e.nodeid, O_WRONLY | O_TRUNC);
  EXPECT_EQ(ReadHostFile(HostPath("f")), "");
  ASSERT_EQ(Write(e.nodeid, fh, 0, "abc").error(), 0);
  fh = Open(e.nodeid, O_WRONLY | O_APPEND);
  ASSERT_EQ(Write(e.nodeid, fh, 0, "def").error(), 0);
  EXPECT_EQ(ReadHostFile(HostPath("f")), "abcdef");
  const uint64_t rfh = Open(e.nodeid, O_RDONLY);
  EXPECT_EQ(Read(e.nodeid, rfh, 100, 10).body.size(), 0u);  // past the end: nothing
}

TEST_F(PassthroughTest, SetattrModeOwnerSizeTimes) {
  WriteHostFile(HostPath("f"), "0123456789");
  auto e = Lookup(1, "f");
  fuse_setattr_in in{};
  in.valid = FATTR_MODE | FATTR_SIZE | FATTR_ATIME | FATTR_MTIME;
  in.mode = S_IFREG | 0604;
  in.size = 4;
  in.atime = 1000;
  in.mtime = 2000;
  in.mtimensec = 5;
  auto a = Call(FUSE_SETATTR, e.nodeid, Args().Struct(in));
  ASSERT_EQ(a.error(), 0);
  EXPECT_EQ(a.As<fuse_attr_out>().attr.size, 4u);
  struct stat st;
  ASSERT_EQ(::stat(HostPath("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  EXPECT_EQ(st.st_size, 4);
  EXPECT_EQ(st.st_atim.tv_sec, 1000);
  EXPECT_EQ(st.st_mtim.tv_sec, 2000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 5);
  if (::geteuid() == 0) {
    in = {};
    in.valid = FATTR_UID | FATTR_GID;
    in.uid = 42;
    in.gid = 43;
    ASSERT_EQ(Call(FUSE_SETATTR, e.nodeid, Args().Struct(in)).error(), 0);
    ASSERT_EQ(::stat(HostPath("f").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 42u);
    EXPECT_EQ(st.st_gid, 43u);
  }
  in = {};
  in.valid = FATTR_MTIME | FATTR_MTIME_NOW;
  ASSERT_EQ(Call(FUSE_SETATTR, e.nodeid, Args().Struct(in)).error(), 0);
  ASSERT_EQ(::stat(HostPath("f").c_str(), &st), 0);
  EXPECT_GT(st.st_mtim.tv_sec, 2000);
}

TEST_F(PassthroughTest, SymlinksAreMadeAndReadButNotFollowed) {
  fuse_entry_out e;
  {
    auto a = Call(FUSE_SYMLINK, 1, Args().Name("link").Name("/etc/passwd"));
    ASSERT_EQ(a.error(), 0);
    e = a.As<fuse_entry_out>();
  }
  EXPECT_TRUE(S_ISLNK(e.attr.mode));
  char buf[64] = {};
  ASSERT_EQ(::readlink(HostPath("link").c_str(), buf, sizeof buf), 11);
  EXPECT_STREQ(buf, "/etc/passwd");
  auto r = Call(FUSE_READLINK, e.nodeid, Args());
  ASSERT_EQ(r.error(), 0);
  EXPECT_EQ(std::string(r.body.begin(), r.body.end()), "/etc/passwd");
  // The link is a node of its own, never its target: it cannot be opened or listed.
  fuse_open_in in{};
  EXPECT_EQ(Call(FUSE_OPEN, e.nodeid, Args().Struct(in)).error(), EINVAL);
  EXPECT_EQ(Call(FUSE_OPENDIR, e.nodeid, Args().Struct(in)).error(), ENOTDIR);
  EXPECT_EQ(Call(FUSE_LOOKUP, e.nodeid, Args().Name("x")).error(), ENOTDIR);
}

TEST_F(PassthroughTest, MknodRegularFifoSocketAndNoDevices) {
  for (auto [name, type] : {std::pair{"reg", S_IFREG}, {"fifo", S_IFIFO}, {"sock", S_IFSOCK}}) {
    fuse_mknod_in in{};
    in.mode = type | 0644;
    auto a = Call(FUSE_MKNOD, 1, Args().Struct(in).Name(name));
    ASSERT_EQ(a.error(), 0) << name;
    struct stat st;
    ASSERT_EQ(::lstat(HostPath(name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & S_IFMT, type) << name;
  }
  fuse_mknod_in dev{};
  dev.mode = S_IFCHR | 0600;
  dev.rdev = makedev(1, 3);
  EXPECT_EQ(Call(FUSE_MKNOD, 1, Args().Struct(dev).Name("null")).error(), EPERM);
  EXPECT_NE(::access(HostPath("null").c_str(), F_OK), 0);
  // The guest opens FIFOs itself; the host never does.
  fuse_open_in in{};
  EXPECT_EQ(Call(FUSE_OPEN, Lookup(1, "fifo").nodeid, Args().Struct(in)).error(), EINVAL);
}

TEST_F(PassthroughTest, DevicesWhereTheShareAllowsThem) {
  if (::geteuid() != 0) GTEST_SKIP() << "mknod of a device needs root";
  ShareConfig config;
  config.allow_devices = true;
  Restart(config);
  ASSERT_EQ(Init().error(), 0);
  fuse_mknod_in dev{};
  dev.mode = S_IFCHR | 0600;
  dev.rdev = makedev(1, 3);
  ASSERT_EQ(Call(FUSE_MKNOD, 1, Args().Struct(dev).Name("null")).error(), 0);
  struct stat st;
  ASSERT_EQ(::lstat(HostPath("null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST_F(PassthroughTest, MkdirRmdirUnlinkRenameLink) {
  auto d = MakeDir(1, "d");
  struct stat st;
  ASSERT_EQ(::stat(HostPath("d").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  uint64_t fh;
  auto f = Create(d.nodeid, "f", 0644, &fh);
  ASSERT_EQ(Write(f.nodeid, fh, 0, "data").error(), 0);
  // rename into the root, then a hard link back, then unlink the first name
  fuse_rename_in rn{};
  rn.newdir = 1;
  ASSERT_EQ(Call(FUSE_RENAME, d.nodeid, Args().Struct(rn).Name("f").Name("g")).error(), 0);
  EXPECT_EQ(ReadHostFile(HostPath("g")), "data");
  fuse_link_in ln{};
  ln.oldnodeid = f.nodeid;
  auto l = Call(FUSE_LINK, d.nodeid, Args().Struct(ln).Name("h"));
  ASSERT_EQ(l.error(), 0);
  EXPECT_EQ(l.As<fuse_entry_out>().attr.nlink, 2u);
  EXPECT_EQ(ReadHostFile(HostPath("d/h")), "data");
  EXPECT_EQ(Call(FUSE_UNLINK, 1, Args().Name("g")).error(), 0);
  EXPECT_NE(::access(HostPath("g").c_str(), F_OK), 0);
  // rename2: NOREPLACE refuses, EXCHANGE swaps
  WriteHostFile(HostPath("a"), "A");
  WriteHostFile(HostPath("b"), "B");
  fuse_rename2_in r2{};
  r2.newdir = 1;
  r2.flags = RENAME_NOREPLACE;
  EXPECT_EQ(Call(FUSE_RENAME2, 1, Args().Struct(r2).Name("a").Name("b")).error(), EEXIST);
  r2.flags = RENAME_EXCHANGE;
  ASSERT_EQ(Call(FUSE_RENAME2, 1, Args().Struct(r2).Name("a").Name("b")).error(), 0);
  EXPECT_EQ(ReadHostFile(HostPath("a")), "B");
  r2.flags = 0x100;
  EXPECT_EQ(Call(FUSE_RENAME2, 1, Args().Struct(r2).Name("a").Name("b")).error(), EINVAL);
  // rmdir: not while the directory holds something
  EXPECT_EQ(Call(FUSE_RMDIR, 1, Args().Name("d")).error(), ENOTEMPTY);
  EXPECT_EQ(Call(FUSE_UNLINK, d.nodeid, Args().Name("h")).error(), 0);
  EXPECT_EQ(Call(FUSE_RMDIR, 1, Args().Name("d")).error(), 0);
  EXPECT_NE(::access(HostPath("d").c_str(), F_OK), 0);
}

TEST_F(PassthroughTest, ReaddirAndReaddirplusListEverything) {
  std::set<std::string> want = {".", ".."};
  for (int i = 0; i < 300; ++i) {
    const std::string name = "file-with-a-long-name-" + std::to_string(i);
    WriteHostFile(HostPath(name), "");
    want.insert(name);
  }
  // 4 KiB per call: many calls, each going on where the last stopped.
  EXPECT_EQ(List(1, false), want);
  const size_t before = dev_->session().nodes().size();
  EXPECT_EQ(List(1, true), want);
  // READDIRPLUS looked every entry up but "." and "..".
  EXPECT_EQ(dev_->session().nodes().size(), before + 300);
}

TEST_F(PassthroughTest, StatfsAccessFallocateLseekCopyFileRange) {
  auto s = Call(FUSE_STATFS, 1, Args());
  ASSERT_EQ(s.error(), 0);
  EXPECT_GT(s.As<fuse_statfs_out>().st.bsize, 0u);
  fuse_access_in acc{};
  acc.mask = R_OK | W_OK;
  EXPECT_EQ(Call(FUSE_ACCESS, 1, Args().Struct(acc)).error(), 0);
  uint64_t fh;
  auto e = Create(1, "sparse", 0644, &fh);
  fuse_fallocate_in fa{};
  fa.fh = fh;
  fa.offset = 1 << 20;
  fa.length = 4096;
  ASSERT_EQ(Call(FUSE_FALLOCATE, e.nodeid, Args().Struct(fa)).error(), 0);
  struct stat st;
  ASSERT_EQ(::stat(HostPath("sparse").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, (1 << 20) + 4096);
  ASSERT_EQ(Write(e.nodeid, fh, 0, "copy me").error(), 0);
  fuse_lseek_in ls{};
  ls.fh = fh;
  ls.whence = SEEK_DATA;
  auto l = Call(FUSE_LSEEK, e.nodeid, Args().Struct(ls));
  ASSERT_EQ(l.error(), 0);
  EXPECT_EQ(l.As<fuse_lseek_out>().offset, 0u);
  ls.whence = SEEK_HOLE;
  l = Call(FUSE_LSEEK, e.nodeid, Args().Struct(ls));
  ASSERT_EQ(l.error(), 0);
  // Where the first hole starts depends on the host filesystem; never before the data's end.
  EXPECT_GE(l.As<fuse_lseek_out>().offset, 7u);
  ls.offset = 1 << 30;
  ls.whence = SEEK_DATA;
  EXPECT_EQ(Call(FUSE_LSEEK, e.nodeid, Args().Struct(ls)).error(), ENXIO);
  ls.whence = SEEK_SET;
  EXPECT_EQ(Call(FUSE_LSEEK, e.nodeid, Args().Struct(ls)).error(), EINVAL);
  uint64_t fh2;
  auto e2 = Create(1, "copy", 0644, &fh2);
  fuse_copy_file_range_in cp{};
  cp.fh_in = fh;
  cp.nodeid_out = e2.nodeid;
  cp.fh_out = fh2;
  cp.off_out = 3;
  cp.len = 7;
  auto c = Call(FUSE_COPY_FILE_RANGE, e.nodeid, Args().Struct(cp));
  ASSERT_EQ(c.error(), 0);
  EXPECT_EQ(c.As<fuse_write_out>().size, 7u);
  EXPECT_EQ(ReadHostFile(HostPath("copy")), std::string("\0\0\0copy me", 10));
}

TEST_F(PassthroughTest, Xattrs) {
  WriteHostFile(HostPath("f"), "");
  if (::setxattr(HostPath("f").c_str(), "user.probe", "1", 1, 0) != 0) {
    GTEST_SKIP() << "the scratch filesystem has no user xattrs";
  }
  ::removexattr(HostPath("f").c_str(), "user.probe");
  auto e = Lookup(1, "f");
  // The 8-byte setxattr_in a driver sends without FUSE_SETXATTR_EXT.
  struct {
    uint32_t size = 5;
    uint32_t flags = 0;
  } set;
  static_assert(sizeof(set) == FUSE_COMPAT_SETXATTR_IN_SIZE);
  ASSERT_EQ(Call(FUSE_SETXATTR, e.nodeid,
                 Args().Struct(set).Name("user.color").Raw({'g', 'r', 'e', 'e', 'n'}))
                .error(),
            0);
  char buf[16] = {};
  ASSERT_EQ(::getxattr(HostPath("f").c_str(), "user.color", buf, sizeof buf), 5);
  fuse_getxattr_in get{};
  auto size = Call(FUSE_GETXATTR, e.nodeid, Args().Struct(get).Name("user.color"));
  ASSERT_EQ(size.error(), 0);
  EXPECT_EQ(size.As<fuse_getxattr_out>().size, 5u);
  get.size = 64;
  auto value = Call(FUSE_GETXATTR, e.nodeid, Args().Struct(get).Name("user.color"));
  EXPECT_EQ(std::string(value.body.begin(), value.body.end()), "green");
  get.size = 2;
  EXPECT_EQ(Call(FUSE_GETXATTR, e.nodeid, Args().Struct(get).Name("user.color")).error(), ERANGE);
  get.size = 64;
  auto list = Call(FUSE_LISTXATTR, e.nodeid, Args().Struct(get));
  ASSERT_EQ(list.error(), 0);
  EXPECT_EQ(std::string(list.body.begin(), list.body.end()), std::string("user.color\0", 11));
  ASSERT_EQ(Call(FUSE_REMOVEXATTR, e.nodeid, Args().Name("user.color")).error(), 0);
  EXPECT_LT(::getxattr(HostPath("f").c_str(), "user.color", buf, sizeof buf), 0);
}

TEST_F(PassthroughTest, ReadOnlyShareRefusesEveryChange) {
  WriteHostFile(HostPath("f"), "keep");
  ShareConfig config;
  config.read_only = true;
  Restart(config);
  ASSERT_EQ(Init().error(), 0);
  auto e = Lookup(1, "f");
  fuse_open_in wr{};
  wr.flags = O_WRONLY;
  EXPECT_EQ(Call(FUSE_OPEN, e.nodeid, Args().Struct(wr)).error(), EROFS);
  wr.flags = O_RDONLY | O_TRUNC;
  EXPECT_EQ(Call(FUSE_OPEN, e.nodeid, Args().Struct(wr)).error(), EROFS);
  const uint64_t fh = Open(e.nodeid, O_RDONLY);
  EXPECT_EQ(Write(e.nodeid, fh, 0, "x").error(), EROFS);
  fuse_mkdir_in md{};
  EXPECT_EQ(Call(FUSE_MKDIR, 1, Args().Struct(md).Name("d")).error(), EROFS);
  EXPECT_EQ(Call(FUSE_UNLINK, 1, Args().Name("f")).error(), EROFS);
  fuse_setattr_in sa{};
  sa.valid = FATTR_SIZE;
  EXPECT_EQ(Call(FUSE_SETATTR, e.nodeid, Args().Struct(sa)).error(), EROFS);
  fuse_create_in cr{};
  cr.mode = S_IFREG | 0644;
  EXPECT_EQ(Call(FUSE_CREATE, 1, Args().Struct(cr).Name("n")).error(), EROFS);
  EXPECT_EQ(Call(FUSE_SYMLINK, 1, Args().Name("l").Name("f")).error(), EROFS);
  EXPECT_EQ(ReadHostFile(HostPath("f")), "keep");
  EXPECT_EQ(Read(e.nodeid, fh, 0, 10).body.size(), 4u);
}

TEST_F(PassthroughTest, UnknownOpcodesAreNotSupported) {
  EXPECT_EQ(Call(FUSE_IOCTL, 1, Args()).error(), ENOSYS);
  EXPECT_EQ(Call(FUSE_GETLK, 1, Args()).error(), ENOSYS);
  EXPECT_EQ(Call(9999, 1, Args()).error(), ENOSYS);
}

TEST_F(PassthroughTest, DestroyDropsEverythingButTheRoot) {
  WriteHostFile(HostPath("f"), "");
  auto e = Lookup(1, "f");
  Open(e.nodeid, O_RDONLY);
  ASSERT_EQ(Call(FUSE_DESTROY, 0, Args()).error(), 0);
  EXPECT_EQ(dev_->session().nodes().size(), 1u);
  EXPECT_EQ(dev_->session().handles().size(), 0u);
  EXPECT_FALSE(dev_->session().initialized());
}

}  // namespace
}  // namespace uvm::devices::virtio::fs
