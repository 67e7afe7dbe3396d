// e2e for virtio-vsock under `uvm boot --vsock`: a real Linux guest (test init, uvmtest=vsock)
// runs an echo server on vsock port 5000 and echoes 1 MiB through a host listener on port 6000.
// One boot serves every check below (boots are slow in the lab). Skipped (reported as not run)
// where this host's KVM cannot run Linux.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/sha256.h"
#include "tests/e2e/linux_guests.h"
#include "tests/support/background_process.h"

namespace {

using uvm::testing::BackgroundProcess;
using uvm::testing::ProcessResult;

int ConnectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n <= 0) return false;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Reads one '\n'-terminated line byte by byte (so no stream bytes after it are consumed).
std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (line.size() < 64 && read(fd, &c, 1) == 1) {
    if (c == '\n') return line;
    line += c;
  }
  return line + "<eof>";
}

std::string ReadAll(int fd) {
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
  }
}

std::string Sha256(const std::string& data) { return uvm::Sha256Hex(data); }

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class VsockE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UVM_SKIP_UNLESS_LINUX_GUESTS();
    // Not /tmp: in the lab that is the 9p share, where unix sockets cannot be bound.
    char tmpl[] = "/run/uvm-vsock-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    uds_ = dir_ + "/vsock.sock";
    StartHostEcho();
    vm_ = std::make_unique<BackgroundProcess>(std::vector<std::string>{
        UVM_BINARY, "boot", "--kernel", std::string(UVM_IMAGES) + "/vmlinux", "--initrd",
        std::string(UVM_IMAGES) + "/test-initramfs.cpio.gz", "--memory", "256", "--cpus", "2",
        "--vsock", uds_, "--cmdline", "uvmtest=vsock"});
    ASSERT_TRUE(vm_->started());
    ASSERT_TRUE(vm_->WaitForOutput("UVMTEST vsock ready", 300)) << vm_->out();
  }

  void TearDown() override {
    if (vm_) {
      // Port 5001 tells the guest to power off once this side has closed the connection; its exit
      // status must be 0.
      int fd = Connect(5001);
      if (fd >= 0) close(fd);
      ProcessResult r = vm_->Wait(120);
      EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
      EXPECT_NE(r.out.find("UVMTEST vsock guest-to-host: ok 1048576"), std::string::npos) << r.out;
      vm_.reset();
    }
    if (host_listener_ >= 0) shutdown(host_listener_, SHUT_RDWR);
    if (host_echo_.joinable()) host_echo_.join();
    if (host_listener_ >= 0) close(host_listener_);
    if (!dir_.empty()) {
      ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0);
    }
  }

  // The guest's connection to host port 6000 arrives at `<uds>_6000`: echo it back.
  void StartHostEcho() {
    host_listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = uds_ + "_6000";
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(bind(host_listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(host_listener_, 8), 0);
    host_echo_ = std::thread([fd = host_listener_] {
      for (;;) {
        int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        char buf[65536];
        for (;;) {
          ssize_t n = read(c, buf, sizeof buf);
          if (n <= 0 || !WriteAll(c, buf, static_cast<size_t>(n))) break;
        }
        close(c);
      }
    });
  }

  // A host client connected to guest port `port` ("CONNECT <port>" / "OK <hostport>").
  int Connect(unsigned port) {
    int fd = ConnectUnix(uds_);
    if (fd < 0) return -1;
    std::string req = "CONNECT " + std::to_string(port) + "\n";
    std::string ok = WriteAll(fd, req.data(), req.size()) ? ReadLine(fd) : "";
    if (ok.rfind("OK ", 0) != 0) {
      ADD_FAILURE() << "CONNECT " << port << " answered '" << ok << "'";
      close(fd);
      return -1;
    }
    return fd;
  }

  // Sends `data` to the guest's echo port while reading the echo back; returns what came back.
  std::string EchoThroughGuest(const std::string& data) {
    int fd = Connect(5000);
    if (fd < 0) return "<no connection>";
    std::thread writer([&] {
      WriteAll(fd, data.data(), data.size());
      shutdown(fd, SHUT_WR);
    });
    std::string got = ReadAll(fd);
    writer.join();
    close(fd);
    return got;
  }

  std::string dir_, uds_;
  int host_listener_ = -1;
  std::thread host_echo_;
  std::unique_ptr<BackgroundProcess> vm_;
};

TEST_F(VsockE2eTest, EchoesBothWaysAndCarries16MiBIntact) {
  EXPECT_EQ(EchoThroughGuest("hello, guest\n"), "hello, guest\n");
  const std::string big = RandomBytes(16 << 20, 1);
  const std::string back = EchoThroughGuest(big);
  EXPECT_EQ(back.size(), big.size());
  EXPECT_EQ(Sha256(back), Sha256(big));
  // Connecting to a port nobody listens on is refused (the guest answers RST): no OK line.
  int fd = ConnectUnix(uds_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, "CONNECT 4999\n", 13));
  EXPECT_EQ(ReadLine(fd), "<eof>");
  close(fd);
  // The guest-to-host half is checked in TearDown, from the guest's own report.
}

TEST_F(VsockE2eTest, SixtyFourConcurrentConnectionsSurviveOneClientDisconnectingMidStream) {
  constexpr int kConns = 64;
  constexpr size_t kBytes = 256 * 1024;
  std::vector<std::string> results(kConns);
  std::vector<std::thread> clients;
  std::atomic<bool> dropped{false};
  // One extra client sends half a MiB and then vanishes without reading its echo.
  clients.emplace_back([&] {
    int fd = Connect(5000);
    if (fd < 0) return;
    std::string part = RandomBytes(512 * 1024, 99);
    WriteAll(fd, part.data(), part.size() / 2);
    close(fd);
    dropped = true;
  });
  for (int i = 0; i < kConns; ++i) {
    clients.emplace_back([&, i] { results[i] = EchoThroughGuest(RandomBytes(kBytes, 100 + i)); });
  }
  for (auto& t : clients) t.join();
  EXPECT_TRUE(dropped);
  for (int i = 0; i < kConns; ++i) {
    const std::string want = RandomBytes(kBytes, 100 + i);
    size_t first_diff = 0;
    while (first_diff < std::min(want.size(), results[i].size()) &&
           want[first_diff] == results[i][first_diff]) {
      ++first_diff;
    }
    EXPECT_EQ(Sha256(results[i]), Sha256(want))
        << "connection " << i << ": " << results[i].size() << " bytes back, first difference at "
        << first_diff;
  }
  // And the device still takes new connections afterwards.
  EXPECT_EQ(EchoThroughGuest("still here"), "still here");
}

}  // namespace
