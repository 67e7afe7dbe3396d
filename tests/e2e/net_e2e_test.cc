// e2e for virtio-net under `uvm boot --net`: the test moves itself into a fresh network namespace
// (unshare(CLONE_NEWNET); uvm inherits it), uvm creates the tap there, the test gives the tap the
// host address, and a real Linux guest (test init, uvmtest=net) exchanges TCP with the host both
// ways: the host sends random bytes and the guest answers their FNV-1a hash; then the host
// connects to the guest and checks every byte of the pattern it sends. Needs root (the lab runs
// tests as root). Skipped (reported as not run) where this host's KVM cannot run Linux.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/netif.h"
#include "tests/e2e/linux_guests.h"
#include "tests/support/background_process.h"

namespace {

using uvm::testing::BackgroundProcess;
using uvm::testing::ProcessResult;

constexpr char kTap[] = "uvmtap0";
constexpr char kMac[] = "52:54:00:12:34:56";
constexpr char kHostIp[] = "10.0.2.1";
constexpr char kGuestIp[] = "10.0.2.15";
constexpr uint16_t kGuestPort = 7000;  // images/test-init/net_mode.h
constexpr uint16_t kHostPort = 7001;
constexpr int kMib = 4;

uint8_t Pattern(uint64_t i) { return static_cast<uint8_t>((i * 31) ^ (i >> 11)); }

uint64_t Fnv1a(const std::string& data) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// A stuck peer fails the test instead of hanging it (the lab is slow: generous).
void SetTimeouts(int fd) {
  timeval tv{120, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int EthtoolGet(const char* ifname, uint32_t cmd) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int r = uvm::netif::EthtoolGet(s, ifname, cmd);
  close(s);
  return r;
}

std::string ReadAll(int fd) {
  std::string got;
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return got;
    got.append(buf.data(), static_cast<size_t>(n));
  }
}

class NetE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UVM_SKIP_UNLESS_LINUX_GUESTS();
    if (geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace and a tap";
    // This thread (and so uvm, its child) moves to a new namespace; TearDown moves it back.
    orig_ns_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(orig_ns_, 0);
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << std::strerror(errno);
    ASSERT_TRUE(uvm::netif::LoopbackUp());
  }
  void TearDown() override {
    if (orig_ns_ >= 0) {
      EXPECT_EQ(setns(orig_ns_, CLONE_NEWNET), 0);
      close(orig_ns_);
    }
  }
  int orig_ns_ = -1;
};

TEST_F(NetE2eTest, TcpBothWaysOverTheTap) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(kHostPort);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
  ASSERT_EQ(listen(listener, 4), 0);

  BackgroundProcess vm({UVM_BINARY, "boot", "--kernel", std::string(UVM_IMAGES) + "/vmlinux",
                        "--initrd", std::string(UVM_IMAGES) + "/test-initramfs.cpio.gz", "--memory",
                        "256", "--cpus", "2", "--net", std::string(kTap) + ",mac=" + kMac,
                        "--cmdline",
                        std::string("uvmtest=net uvmnet_ip=") + kGuestIp +
                            " uvmnet_peer=" + kHostIp + " uvmnet_mib=" + std::to_string(kMib)});
  ASSERT_TRUE(vm.started());
  // uvm creates the tap (it does not exist in this fresh namespace); then the host side gets its
  // address, as a host admin would do.
  bool tap = false;
  for (int i = 0; i < 600 && !tap; ++i) {
    tap = if_nametoindex(kTap) != 0;
    if (!tap) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(tap) << "uvm did not create " << kTap << "\n" << vm.out();
  ASSERT_TRUE(uvm::netif::ConfigureIpv4(kTap, kHostIp)) << std::strerror(errno);

  // Host -> guest bytes over the guest's connection; the guest answers their hash.
  std::mt19937 rng(7);
  std::string sent(size_t{kMib} << 20, '\0');
  for (auto& c : sent) c = static_cast<char>(rng());
  std::string reply;
  std::thread host_side([&] {
    pollfd p{listener, POLLIN, 0};
    if (poll(&p, 1, 300 * 1000) != 1) return;
    int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    SetTimeouts(c);
    size_t off = 0;
    while (off < sent.size()) {
      ssize_t n = send(c, sent.data() + off, sent.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    shutdown(c, SHUT_WR);
    reply = ReadAll(c);
    close(c);
  });

  ASSERT_TRUE(vm.WaitForOutput("UVMTEST net ready", 300)) << vm.out();
  EXPECT_NE(vm.out().find(std::string("UVMTEST net mac=") + kMac), std::string::npos) << vm.out();
  // Offloads negotiated both ways: the guest's eth0 may send partial checksums and TSO frames
  // (HOST_CSUM/HOST_TSO4), and the tap was told the guest takes them (GUEST_* -> TUNSETOFFLOAD).
  EXPECT_NE(vm.out().find("UVMTEST net eth0 tx-csum=1 tso=1"), std::string::npos) << vm.out();
  EXPECT_EQ(EthtoolGet(kTap, ETHTOOL_GTXCSUM), 1);
  EXPECT_EQ(EthtoolGet(kTap, ETHTOOL_GTSO), 1);

  // Guest -> host bytes over a connection the host makes.
  sockaddr_in guest{};
  guest.sin_family = AF_INET;
  guest.sin_port = htons(kGuestPort);
  inet_pton(AF_INET, kGuestIp, &guest.sin_addr);
  int c = -1;
  for (int tries = 0; tries < 300 && c < 0; ++tries) {
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(c, reinterpret_cast<sockaddr*>(&guest), sizeof guest) != 0) {
      close(c);
      c = -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  EXPECT_GE(c, 0) << "could not connect to the guest";
  std::string received;
  if (c >= 0) {
    SetTimeouts(c);
    received = ReadAll(c);
    close(c);
  }
  host_side.join();
  close(listener);

  char want[64];
  std::snprintf(want, sizeof want, "%zu %016llx\n", sent.size(),
                static_cast<unsigned long long>(Fnv1a(sent)));
  EXPECT_EQ(reply, want) << "the guest's hash of what the host sent";
  EXPECT_EQ(received.size(), size_t{kMib} << 20);
  size_t bad = 0;
  for (size_t i = 0; i < received.size(); ++i) {
    if (static_cast<uint8_t>(received[i]) != Pattern(i)) ++bad;
  }
  EXPECT_EQ(bad, 0u) << "bytes from the guest that differ from its pattern";

  ProcessResult r = vm.Wait(120);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("UVMTEST net done"), std::string::npos) << r.out << r.err;
}

}  // namespace
