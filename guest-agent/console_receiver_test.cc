#include "guest-agent/console_receiver.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "base/unix_socket.h"

namespace uvm::agent {
namespace {

// Sends `fd` to the socket at `path` as crun does: a name, with the descriptor as SCM_RIGHTS.
void SendFdTo(const std::string& path, int fd) {
  auto sock = ConnectUnix(path);
  ASSERT_TRUE(sock) << sock.error().message;
  ASSERT_TRUE(SendFd(sock->get(), fd, "/dev/ptmx"));
}

std::string Dir() {
  char dir[] = "/tmp/uvm-console-XXXXXX";
  return mkdtemp(dir);
}

TEST(ConsoleReceiverTest, ReceivesTheDescriptorACrunSends) {
  const std::string dir = Dir(), path = dir + "/console.sock";
  auto receiver = ConsoleReceiver::Listen(path);
  ASSERT_TRUE(receiver) << receiver.error().message;
  int file = open("/dev/null", O_RDWR | O_CLOEXEC);
  std::thread crun([&] { SendFdTo(path, file); });
  auto fd = receiver->Receive(std::chrono::seconds(5), [] { return false; });
  crun.join();
  ASSERT_TRUE(fd) << fd.error().message;
  struct stat a, b;
  ASSERT_EQ(fstat(fd->get(), &a), 0);
  ASSERT_EQ(fstat(file, &b), 0);
  EXPECT_EQ(a.st_rdev, b.st_rdev);
  EXPECT_EQ(a.st_ino, b.st_ino);
  close(file);
  unlink(path.c_str());
  rmdir(dir.c_str());
}

TEST(ConsoleReceiverTest, GivesUpWhenCrunEndsOrTheTimeComesAndOnAMessageWithoutOne) {
  const std::string dir = Dir(), path = dir + "/console.sock";
  auto receiver = ConsoleReceiver::Listen(path);
  ASSERT_TRUE(receiver);
  auto ended = receiver->Receive(std::chrono::seconds(5), [] { return true; });
  ASSERT_FALSE(ended);
  EXPECT_NE(ended.error().message.find("ended"), std::string::npos);
  auto late = receiver->Receive(std::chrono::milliseconds(60), [] { return false; });
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message.find("no terminal"), std::string::npos);
  // A client that connects and sends bytes only.
  std::thread talker([&] {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      (void)!write(s, "hi", 2);
    }
    close(s);
  });
  auto bare = receiver->Receive(std::chrono::seconds(5), [] { return false; });
  talker.join();
  ASSERT_FALSE(bare);
  EXPECT_NE(bare.error().message.find("no terminal came"), std::string::npos);
  unlink(path.c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace uvm::agent
