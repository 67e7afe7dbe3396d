// A hostile guest against the session: escapes, bad names, stale and unknown ids, sizes past
// what was negotiated, replies that do not fit, and a guest that never forgets. Each must be a
// clean error, and the canary beside the share (checked in TearDown) stays untouched.
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "devices/virtio/fs/fs_test_fixture.h"

namespace uvm::devices::virtio::fs {
namespace {

using testing::Args;

class HostileTest : public testing::FsFixture {
 protected:
  void SetUp() override {
    FsFixture::SetUp();
    ASSERT_EQ(Init().error(), 0);
  }
};

TEST_F(HostileTest, DotDotChainsStayInside) {
  // ".." of the root is the root, however often.
  uint64_t node = 1;
  for (int i = 0; i < 5; ++i) node = Lookup(node, "..").nodeid;
  EXPECT_EQ(node, 1u);
  // Names with a slash are not names.
  EXPECT_EQ(Call(FUSE_LOOKUP, 1, Args().Name("../canary")).error(), EINVAL);
  EXPECT_EQ(Call(FUSE_LOOKUP, 1, Args().Name("/etc")).error(), EINVAL);
  EXPECT_EQ(Call(FUSE_LOOKUP, 1, Args().Name("a/b")).error(), EINVAL);
  fuse_mkdir_in md{};
  EXPECT_EQ(Call(FUSE_MKDIR, 1, Args().Struct(md).Name("..")).error(), EINVAL);
  EXPECT_EQ(Call(FUSE_UNLINK, 1, Args().Name("../canary")).error(), EINVAL);
  fuse_rename_in rn{};
  rn.newdir = 1;
  EXPECT_EQ(Call(FUSE_RENAME, 1, Args().Struct(rn).Name("..").Name("x")).error(), EINVAL);
  // ".." below the root leads only to nodes the session holds.
  ASSERT_EQ(::mkdir(HostPath("d").c_str(), 0755), 0);
  auto d = Lookup(1, "d");
  EXPECT_EQ(Lookup(d.nodeid, "..").nodeid, 1u);
}

TEST_F(HostileTest, SymlinksOutOfTheShareAreNeverFollowedByTheHost) {
  ASSERT_EQ(::symlink(canary_.c_str(), HostPath("abs").c_str()), 0);
  ASSERT_EQ(::symlink("../canary", HostPath("rel").c_str()), 0);
  ASSERT_EQ(::symlink("..", HostPath("up").c_str()), 0);
  for (const char* name : {"abs", "rel", "up"}) {
    auto e = Lookup(1, name);
    EXPECT_TRUE(S_ISLNK(e.attr.mode)) << name;
    fuse_open_in in{};
    in.flags = O_RDWR | O_TRUNC;
    EXPECT_EQ(Call(FUSE_OPEN, e.nodeid, Args().Struct(in)).error(), EINVAL) << name;
    EXPECT_EQ(Call(FUSE_LOOKUP, e.nodeid, Args().Name("canary")).error(), ENOTDIR) << name;
    fuse_setattr_in sa{};
    sa.valid = FATTR_SIZE;
    EXPECT_EQ(Call(FUSE_SETATTR, e.nodeid, Args().Struct(sa)).error(), EINVAL) << name;
    sa.valid = FATTR_MODE;
    sa.mode = 0777;
    EXPECT_EQ(Call(FUSE_SETATTR, e.nodeid, Args().Struct(sa)).error(), EOPNOTSUPP) << name;
    struct {
      uint32_t size = 1;
      uint32_t flags = 0;
    } sx;
    EXPECT_NE(Call(FUSE_SETXATTR, e.nodeid, Args().Struct(sx).Name("user.x").Raw({'1'})).error(), 0)
        << name;
  }
  // CREATE through a symlink's name opens nothing beyond it.
  fuse_create_in cr{};
  cr.flags = O_RDWR | O_CREAT | O_TRUNC;
  cr.mode = S_IFREG | 0644;
  EXPECT_EQ(Call(FUSE_CREATE, 1, Args().Struct(cr).Name("abs")).error(), ELOOP);
  // A hard link to a symlink node links the symlink, not its target.
  fuse_link_in ln{};
  ln.oldnodeid = Lookup(1, "abs").nodeid;
  auto l = Call(FUSE_LINK, 1, Args().Struct(ln).Name("abs2"));
  if (l.error() == 0) {
    struct stat st;
    ASSERT_EQ(::lstat(HostPath("abs2").c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
  }
}

TEST_F(HostileTest, ASymlinkSwappedInAfterLookupIsNotOpened) {
  WriteHostFile(HostPath("f"), "inside");
  auto e = Lookup(1, "f");
  // The host (or another client) replaces the name with a link out of the share.
  ASSERT_EQ(::rename(HostPath("f").c_str(), HostPath("old").c_str()), 0);
  ASSERT_EQ(::symlink(canary_.c_str(), HostPath("f").c_str()), 0);
  fuse_open_in in{};
  in.flags = O_RDWR | O_TRUNC;
  auto a = Call(FUSE_OPEN, e.nodeid, Args().Struct(in));
  ASSERT_EQ(a.error(), 0);  // the node is the file looked up, now named "old"
  ASSERT_EQ(Write(e.nodeid, a.As<fuse_open_out>().fh, 0, "changed").error(), 0);
  EXPECT_EQ(ReadHostFile(HostPath("old")), "changed");
}

TEST_F(HostileTest, BadNames) {
  EXPECT_EQ(Call(FUSE_LOOKUP, 1, Args().Name(std::string(NAME_MAX + 1, 'a'))).error(),
            ENAMETOOLONG);
  EXPECT_EQ(Call(FUSE_LOOKUP, 1, Args().Name("")).error(), EINVAL);
  // No NUL at all.
  EXPECT_EQ(Call(FUSE_LOOKUP, 1, Args().Raw({'a', 'b'})).error(), EINVAL);
  // An embedded NUL ends the name: "a" is looked up, nothing else.
  EXPECT_EQ(Call(FUSE_LOOKUP, 1, Args().Raw({'a', 0, '/', '.', '.', 0})).error(), ENOENT);
  fuse_mkdir_in md{};
  EXPECT_EQ(Call(FUSE_MKDIR, 1, Args().Struct(md).Name(std::string(300, 'x'))).error(),
            ENAMETOOLONG);
  // Truncated structs.
  EXPECT_EQ(Call(FUSE_MKDIR, 1, Args().Raw({1, 2})).error(), EINVAL);
  EXPECT_EQ(Call(FUSE_SETATTR, 1, Args().Raw({1})).error(), EINVAL);
}

TEST_F(HostileTest, UnknownAndForgottenNodes) {
  EXPECT_EQ(Call(FUSE_GETATTR, 999, Args().Struct(fuse_getattr_in{})).error(), ENOENT);
  EXPECT_EQ(Call(FUSE_LOOKUP, 999, Args().Name("x")).error(), ENOENT);
  Forget(999, 5);   // unknown: ignored
  Forget(1, 1000);  // the root is never dropped
  EXPECT_EQ(Lookup(1, ".").nodeid, 1u);
  WriteHostFile(HostPath("f"), "");
  const uint64_t id = Lookup(1, "f").nodeid;
  Forget(id, 1000);  // more than it had: gone, not negative
  EXPECT_EQ(Call(FUSE_GETATTR, id, Args().Struct(fuse_getattr_in{})).error(), ENOENT);
  fuse_link_in ln{};
  ln.oldnodeid = id;
  EXPECT_EQ(Call(FUSE_LINK, 1, Args().Struct(ln).Name("g")).error(), ENOENT);
  // Handles: unknown, and a directory handle used for file I/O.
  EXPECT_EQ(Read(1, 12345, 0, 10).error(), EBADF);
  const uint64_t dfh = Open(1, O_RDONLY, true);
  EXPECT_EQ(Read(1, dfh, 0, 10).error(), EBADF);
  EXPECT_EQ(Write(1, dfh, 0, "x").error(), EBADF);
}

TEST_F(HostileTest, SizesPastWhatWasNegotiated) {
  WriteHostFile(HostPath("f"), "abc");
  auto e = Lookup(1, "f");
  const uint64_t fh = Open(e.nodeid, O_RDWR);
  EXPECT_EQ(Read(e.nodeid, fh, 0, kMaxIoBytes + 1, FUSE_READ, 4096).error(), EINVAL);
  // A write whose size disagrees with its data, and one past max_write.
  fuse_write_in w{};
  w.fh = fh;
  w.size = 100;
  EXPECT_EQ(Call(FUSE_WRITE, e.nodeid, Args().Struct(w), 4096, {'x'}).error(), EINVAL);
  w.size = kMaxIoBytes + 1;
  EXPECT_EQ(
      Call(FUSE_WRITE, e.nodeid, Args().Struct(w), 4096, std::vector<uint8_t>(kMaxIoBytes + 1, 'x'))
          .error(),
      E2BIG);
  EXPECT_EQ(ReadHostFile(HostPath("f")), "abc");
  // Arguments past the largest any request has.
  EXPECT_EQ(
      Call(FUSE_SETXATTR, e.nodeid, Args().Raw(std::vector<uint8_t>(kMaxArgBytes + 1))).error(),
      E2BIG);
  // A header whose length runs past the chain, or is shorter than itself.
  fuse_in_header h{};
  h.opcode = FUSE_GETATTR;
  h.nodeid = 1;
  h.unique = 77;
  for (uint32_t len : {uint32_t{sizeof(h) + 1000}, uint32_t{8}}) {
    h.len = len;
    std::vector<uint8_t> in(sizeof(h));
    std::memcpy(in.data(), &h, sizeof(h));
    auto a = Raw(in, 4096);
    EXPECT_EQ(a.error(), EINVAL);
  }
}

TEST_F(HostileTest, RepliesThatDoNotFit) {
  WriteHostFile(HostPath("f"), std::string(10000, 'z'));
  // No room for even a header: nothing is written, the chain still comes back.
  const std::vector<uint8_t> in = Request(FUSE_LOOKUP, 1, Args().Name("f"));
  EXPECT_EQ(Raw(in, 8).used_len, 0u);
  EXPECT_EQ(Raw(in, 0).used_len, 0u);
  // Room for the header but not the entry: EINVAL, and the lookup the guest never heard of is
  // taken back.
  auto small = Call(FUSE_LOOKUP, 1, Args().Name("f"), sizeof(fuse_out_header) + 8);
  EXPECT_EQ(small.error(), EINVAL);
  EXPECT_EQ(dev_->session().nodes().size(), 1u);
  // A read bigger than the chain's room reads only what fits.
  auto e = Lookup(1, "f");
  const uint64_t fh = Open(e.nodeid, O_RDONLY);
  auto r = Read(e.nodeid, fh, 0, 8192, FUSE_READ, sizeof(fuse_out_header) + 100);
  ASSERT_EQ(r.error(), 0);
  EXPECT_EQ(r.body.size(), 100u);
}

TEST_F(HostileTest, ReaddirIntoTinyBuffers) {
  WriteHostFile(HostPath("a-rather-long-file-name"), "");
  const uint64_t fh = Open(1, O_RDONLY, true);
  // Too small for any entry: an error, never an empty (end-of-directory) answer.
  EXPECT_EQ(Read(1, fh, 0, 8, FUSE_READDIR).error(), EINVAL);
  EXPECT_EQ(Read(1, fh, 0, 8, FUSE_READDIRPLUS).error(), EINVAL);
  // One entry at a time still lists everything.
  std::set<std::string> names;
  uint64_t offset = 0;
  for (int i = 0; i < 10; ++i) {
    auto a = Read(1, fh, offset, sizeof(fuse_dirent) + 32, FUSE_READDIR);
    ASSERT_EQ(a.error(), 0);
    if (a.body.empty()) break;
    fuse_dirent d;
    std::memcpy(&d, a.body.data(), sizeof(d));
    names.insert(std::string(reinterpret_cast<const char*>(a.body.data() + sizeof(d)), d.namelen));
    offset = d.off;
  }
  EXPECT_EQ(names, (std::set<std::string>{".", "..", "a-rather-long-file-name"}));
  // The reply's room, not the guest's size, bounds a listing.
  auto a = Read(1, fh, 0, 65536, FUSE_READDIR, sizeof(fuse_out_header) + 40);
  ASSERT_EQ(a.error(), 0);
  EXPECT_LE(a.body.size(), 40u);
}

TEST_F(HostileTest, ThousandsOfLookupsWithoutForgetHitTheCap) {
  ShareConfig config;
  config.max_nodes = 100;
  config.max_open = 20;
  config.max_handles = 10;
  Restart(config);
  ASSERT_EQ(Init().error(), 0);
  for (int i = 0; i < 150; ++i) WriteHostFile(HostPath(std::to_string(i)), "");
  int refused = 0;
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 150; ++i) {
      auto a = Call(FUSE_LOOKUP, 1, Args().Name(std::to_string(i)));
      if (a.error() == ENFILE) ++refused;
    }
  }
  EXPECT_EQ(dev_->session().nodes().size(), 100u);
  EXPECT_LE(dev_->session().nodes().open_count(), 20u);
  EXPECT_GT(refused, 0);
  // Open files too.
  for (int i = 0; i < 20; ++i) {
    fuse_open_in in{};
    Call(FUSE_OPENDIR, 1, Args().Struct(in));
  }
  EXPECT_EQ(dev_->session().handles().size(), 10u);
  // A forget makes room again.
  Forget(dev_->session().nodes().size() > 1 ? 2 : 1, 1000);
  EXPECT_EQ(Call(FUSE_LOOKUP, 1, Args().Name("149")).error(), 0);
}

// A guest may hold many more nodes than the host keeps descriptors for (a Linux guest forgets
// only when it evicts its own inodes): past max_open, the least recently used node's descriptor
// is given up and reopened from its file handle when the guest uses the node again.
TEST_F(HostileTest, NodesPastTheDescriptorLimitAreReopenedFromTheirHandles) {
  ShareConfig config;
  config.max_open = NodeTable::kMinOpen;
  Restart(config);
  ASSERT_EQ(Init().error(), 0);
  ASSERT_TRUE(dev_->session().nodes().reopens()) << "this test's share has no file handles";
  ASSERT_EQ(mkdir(HostPath("d").c_str(), 0755), 0);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 50; ++i) {
    WriteHostFile(HostPath("d/" + std::to_string(i)), std::string(static_cast<size_t>(i), 'x'));
  }
  const uint64_t dir = Lookup(1, "d").nodeid;
  for (int i = 0; i < 50; ++i) ids.push_back(Lookup(dir, std::to_string(i)).nodeid);
  EXPECT_EQ(dev_->session().nodes().size(), 52u);
  EXPECT_LE(dev_->session().nodes().open_count(), NodeTable::kMinOpen);
  // Every node still answers as its own file.
  for (int i = 0; i < 50; ++i) {
    auto a = Call(FUSE_GETATTR, ids[i], Args().Struct(fuse_getattr_in{}));
    ASSERT_EQ(a.error(), 0) << i;
    fuse_attr_out out;
    std::memcpy(&out, a.body.data(), sizeof out);
    EXPECT_EQ(out.attr.size, static_cast<uint64_t>(i)) << i;
  }
  EXPECT_LE(dev_->session().nodes().open_count(), NodeTable::kMinOpen);
  // Operations on two given-up nodes at once (the directory and a file in it).
  for (int i = 0; i < 20; ++i) Call(FUSE_GETATTR, ids[i], Args().Struct(fuse_getattr_in{}));
  fuse_rename_in rn{};
  rn.newdir = dir;
  EXPECT_EQ(Call(FUSE_RENAME, dir, Args().Struct(rn).Name("49").Name("renamed")).error(), 0);
  EXPECT_EQ(access(HostPath("d/renamed").c_str(), F_OK), 0);
  // A file removed on the host while its descriptor was given up: a clean error, not another file.
  for (int i = 0; i < 20; ++i) Call(FUSE_GETATTR, ids[i], Args().Struct(fuse_getattr_in{}));
  ASSERT_EQ(unlink(HostPath("d/30").c_str()), 0);
  EXPECT_EQ(Call(FUSE_GETATTR, ids[30], Args().Struct(fuse_getattr_in{})).error(), ESTALE);
  EXPECT_EQ(Call(FUSE_GETATTR, ids[31], Args().Struct(fuse_getattr_in{})).error(), 0);
}

TEST_F(HostileTest, BatchForgetCountLargerThanItsArguments) {
  WriteHostFile(HostPath("f"), "");
  const uint64_t id = Lookup(1, "f").nodeid;
  fuse_batch_forget_in b{};
  b.count = 1000000;
  fuse_forget_one one{};
  one.nodeid = id;
  one.nlookup = 1;
  EXPECT_EQ(Hiprio(Request(FUSE_BATCH_FORGET, 0, Args().Struct(b).Struct(one))), 0u);
  EXPECT_EQ(Call(FUSE_GETATTR, id, Args().Struct(fuse_getattr_in{})).error(), ENOENT);
}

}  // namespace
}  // namespace uvm::devices::virtio::fs
