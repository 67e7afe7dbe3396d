#include "oci/vm_layout.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

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

}  // namespace
}  // namespace uvm::oci
