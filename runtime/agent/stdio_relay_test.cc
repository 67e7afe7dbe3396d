#include "runtime/agent/stdio_relay.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace uvm::agent {
namespace {

struct Pair {
  Pair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd), 0); }
  ~Pair() {
    for (int f : fd) {
      if (f >= 0) close(f);
    }
  }
  int fd[2] = {-1, -1};
};

std::string ReadAll(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

void WriteAll(int fd, const std::string& s) {
  for (size_t done = 0; done < s.size();) {
    ssize_t n = write(fd, s.data() + done, s.size() - done);
    ASSERT_GT(n, 0);
    done += static_cast<size_t>(n);
  }
}

// A fake container: echoes its stdin to stdout with a prefix on stderr, in large amounts, so the
// relay has to interleave reading and writing without losing or reordering bytes.
TEST(StdioRelayTest, CarriesStdinToTheContainerAndBothOutputsBackComplete) {
  BlockRelayedSignals();
  Pair host_in, host_out, host_err, c_in, c_out, c_err;
  const std::string input(3 << 20, 'x');
  std::string container_got, out, err;
  std::thread container([&] {
    container_got = ReadAll(c_in.fd[1]);  // until the relay passes EOF on
    WriteAll(c_out.fd[1], container_got);
    WriteAll(c_err.fd[1], std::string(1 << 20, 'e'));
    close(c_out.fd[1]);
    c_out.fd[1] = -1;
    close(c_err.fd[1]);
    c_err.fd[1] = -1;
  });
  std::thread user([&] {
    WriteAll(host_in.fd[1], input);
    close(host_in.fd[1]);
    host_in.fd[1] = -1;
  });
  std::thread out_reader([&] { out = ReadAll(host_out.fd[1]); });
  std::thread err_reader([&] { err = ReadAll(host_err.fd[1]); });
  RelayFds fds{host_in.fd[0], host_out.fd[0], host_err.fd[0], c_in.fd[0], c_out.fd[0], c_err.fd[0]};
  ASSERT_TRUE(RelayStdio(fds, {}));
  container.join();
  user.join();
  close(host_out.fd[0]);
  host_out.fd[0] = -1;
  close(host_err.fd[0]);
  host_err.fd[0] = -1;
  out_reader.join();
  err_reader.join();
  EXPECT_EQ(container_got.size(), input.size());
  EXPECT_EQ(out, input);
  EXPECT_EQ(err, std::string(1 << 20, 'e'));
}

// `cat`: the container echoes while it reads, so the relay must keep draining stdout while stdin
// still has bytes to write. With blocking writes both sides would wait on each other forever.
TEST(StdioRelayTest, AnEchoingContainerDoesNotDeadlockTheRelay) {
  BlockRelayedSignals();
  Pair host_in, host_out, c_in, c_out, c_err;
  const std::string input(8 << 20, 'c');
  std::string out;
  std::thread container([&] {
    char buf[65536];
    ssize_t n;
    while ((n = read(c_in.fd[1], buf, sizeof buf)) > 0) WriteAll(c_out.fd[1], std::string(buf, n));
    close(c_out.fd[1]);
    c_out.fd[1] = -1;
    close(c_err.fd[1]);
    c_err.fd[1] = -1;
  });
  std::thread user([&] {
    WriteAll(host_in.fd[1], input);
    close(host_in.fd[1]);
    host_in.fd[1] = -1;
  });
  std::thread out_reader([&] { out = ReadAll(host_out.fd[1]); });
  std::atomic<bool> done{false};
  std::thread relay([&] {
    RelayFds fds{host_in.fd[0], host_out.fd[0], 2, c_in.fd[0], c_out.fd[0], c_err.fd[0]};
    EXPECT_TRUE(RelayStdio(fds, {}));
    done = true;
  });
  for (int i = 0; i < 300 && !done; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(done.load()) << "relay deadlocked";
  relay.join();
  container.join();
  user.join();
  close(host_out.fd[0]);
  host_out.fd[0] = -1;
  out_reader.join();
  EXPECT_EQ(out.size(), input.size());
}

TEST(StdioRelayTest, WithoutHostStdinTheContainerSeesEofAtOnce) {
  BlockRelayedSignals();
  Pair c_in, c_out, c_err;
  std::thread container([&] {
    std::string got = ReadAll(c_in.fd[1]);
    WriteAll(c_out.fd[1], "eof after " + std::to_string(got.size()));
    close(c_out.fd[1]);
    c_out.fd[1] = -1;
    close(c_err.fd[1]);
    c_err.fd[1] = -1;
  });
  Pair host_out;
  RelayFds fds{-1, host_out.fd[0], 2, c_in.fd[0], c_out.fd[0], c_err.fd[0]};
  ASSERT_TRUE(RelayStdio(fds, {}));
  container.join();
  close(host_out.fd[0]);
  host_out.fd[0] = -1;
  EXPECT_EQ(ReadAll(host_out.fd[1]), "eof after 0");
}

TEST(StdioRelayTest, ASignalIsHandedToTheHookAndTheRelayContinues) {
  BlockRelayedSignals();  // before any thread starts, so SIGTERM reaches only the signalfd
  Pair c_in, c_out, c_err;
  int seen = 0;
  RelayHooks hooks;
  hooks.on_signal = [&](int signo) {
    seen = signo;
    // The "container" ends when it gets the signal.
    close(c_out.fd[1]);
    c_out.fd[1] = -1;
    close(c_err.fd[1]);
    c_err.fd[1] = -1;
  };
  std::thread sender([] { kill(getpid(), SIGTERM); });
  RelayFds fds{-1, 1, 2, c_in.fd[0], c_out.fd[0], c_err.fd[0]};
  ASSERT_TRUE(RelayStdio(fds, hooks));
  sender.join();
  EXPECT_EQ(seen, SIGTERM);
}

}  // namespace
}  // namespace uvm::agent
