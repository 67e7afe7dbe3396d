#include "oci/vm_layout.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "base/fs.h"
#include "base/unique_fd.h"

namespace uvm::oci {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

struct SocketPair {
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0); }
  ~SocketPair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int fds[2] = {-1, -1};
};

// `start` sends its line and keeps the connection open for the keeper's answer: the keeper must
// take the line at once, not wait for end of file (it once waited its whole 5 s timeout, which
// was most of a VM container's start).
TEST(ReadReplyTest, ALineEndsTheReadWithoutEndOfFile) {
  SocketPair s;
  ASSERT_EQ(::write(s.fds[1], "start\nmore", 10), 10);
  const auto before = steady_clock::now();
  EXPECT_EQ(ReadReply(s.fds[0], 16, milliseconds(5000), ReplyEnd::kLine), "start\n");
  EXPECT_LT(steady_clock::now() - before, milliseconds(2000));
}

TEST(ReadReplyTest, WithoutALineItReadsToEndOfFileOrTheTimeout) {
  SocketPair s;
  ASSERT_EQ(::write(s.fds[1], "ok\nand more", 11), 11);
  ::shutdown(s.fds[1], SHUT_WR);
  EXPECT_EQ(ReadReply(s.fds[0], 4096, milliseconds(5000)), "ok\nand more");
  SocketPair open;
  ASSERT_EQ(::write(open.fds[1], "par", 3), 3);
  EXPECT_EQ(ReadReply(open.fds[0], 16, milliseconds(100), ReplyEnd::kLine), "par");
  EXPECT_EQ(ReadReply(open.fds[0], 16, milliseconds(100)), "");
}

TEST(ReadReplyTest, AtMostMaxBytes) {
  SocketPair s;
  ASSERT_EQ(::write(s.fds[1], "0123456789", 10), 10);
  EXPECT_EQ(ReadReply(s.fds[0], 4, milliseconds(100), ReplyEnd::kLine), "0123");
}

std::string Slurp(const std::string& path) {
  return ReadFileLimited(path, 4096).value_or("<unreadable>");
}

// A bound file is the host's file itself (writes go through both ways), alone in its directory;
// undoing the binds leaves the empty placeholders, which the state directory's removal takes.
TEST(FileBindTest, ABoundFileIsTheHostsFileAndUnbindingLetsItGo) {
  if (::geteuid() != 0) GTEST_SKIP() << "bind mounts need root (the unit tier runs as root)";
  char tmpl[] = "/tmp/uvm-file-bind-XXXXXX";
  const std::string tmp = ::mkdtemp(tmpl);
  ASSERT_TRUE(WriteFileAtomic(tmp + "/hosts", "127.0.0.1 box\n"));
  ASSERT_TRUE(WriteFileAtomic(tmp + "/secret", "not for the VM\n"));
  const std::string files = tmp + "/state/files";
  ASSERT_TRUE(BindFiles({{tmp + "/hosts", files + "/rw/0/hosts"}}));
  EXPECT_EQ(Slurp(files + "/rw/0/hosts"), "127.0.0.1 box\n");
  {
    UniqueFd out(::open((files + "/rw/0/hosts").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    ASSERT_TRUE(out.valid());
    ASSERT_EQ(::write(out.get(), "10.0.0.2 peer\n", 14), 14);
  }
  EXPECT_EQ(Slurp(tmp + "/hosts"), "127.0.0.1 box\n10.0.0.2 peer\n");
  EXPECT_NE(::access((files + "/rw/0/secret").c_str(), F_OK), 0);
  UnbindFiles(files);
  EXPECT_EQ(Slurp(files + "/rw/0/hosts"), "") << "still bound";
  EXPECT_TRUE(RemoveTree(tmp + "/state"));
  EXPECT_EQ(Slurp(tmp + "/hosts"), "127.0.0.1 box\n10.0.0.2 peer\n") << "the host's file went";
  EXPECT_TRUE(RemoveTree(tmp));
}

TEST(FileBindTest, AFailedBindUndoesTheOnesBeforeIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "bind mounts need root (the unit tier runs as root)";
  char tmpl[] = "/tmp/uvm-file-bind-XXXXXX";
  const std::string tmp = ::mkdtemp(tmpl);
  ASSERT_TRUE(WriteFileAtomic(tmp + "/a", "a\n"));
  const std::string files = tmp + "/state/files";
  auto bound = BindFiles({{tmp + "/a", files + "/rw/0/a"}, {tmp + "/missing", files + "/ro/1/b"}});
  ASSERT_FALSE(bound);
  EXPECT_NE(bound.error().message.find("missing"), std::string::npos) << bound.error().message;
  EXPECT_EQ(Slurp(files + "/rw/0/a"), "") << "the first bind was left in place";
  EXPECT_TRUE(RemoveTree(tmp));
}

}  // namespace
}  // namespace uvm::oci
