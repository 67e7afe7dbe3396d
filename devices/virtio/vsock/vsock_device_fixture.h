// The fixture of the virtio-vsock device tests (vsock_device_test.cc, vsock_snapshot_test.cc): the
// device behind an MMIO transport driven by fake rx/tx/event queues, host clients on its unix
// socket, and one round of the device's event loop at a time.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "base/unix_socket.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/testing/fake_driver.h"
#include "devices/virtio/virtio_spec.h"
#include "devices/virtio/vsock/test_chain.h"
#include "devices/virtio/vsock/vsock_device.h"

namespace uvm::devices::virtio::vsock {

using virtio::testing::FakeDriver;
using virtio::testing::FakeRam;
using virtio::testing::InitMmioDevice;
using virtio::testing::MmioRead32;
using virtio::testing::MmioWrite32;

constexpr uint64_t kCid = 42;
constexpr uint32_t kRxBuf = sizeof(VsockHeader) + 4096;
constexpr uint32_t kGuestBufAlloc = 64 * 1024;

struct RxPacket {
  VsockHeader hdr;
  std::string payload;
};

inline UniqueFd ConnectTo(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << path;
  return fd;
}

inline UniqueFd ListenAt(const std::string& path) {
  auto listener = ListenUnix(path);
  EXPECT_TRUE(listener) << listener.error().message;
  return listener ? std::move(*listener) : UniqueFd();
}

inline bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

inline void WriteAll(int fd, const std::string& s) {
  ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

class VsockDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvm_vsock_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    uds_ = dir_ + "/vsock.sock";
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop);
    loop_ = std::make_unique<EventLoop>(std::move(*loop));
    auto dev = VsockDevice::Create(kCid, uds_, *loop_);
    ASSERT_TRUE(dev) << dev.error().message;
    dev_ = *dev;
    t_ = std::make_unique<MmioTransport>(ram_.mem(), dev_, [this] { ++irqs_; });
    std::array<FakeDriver*, 3> qs = {&rx_, &tx_, &ev_};
    const uint64_t features = Bit(kFeatureVersion1) | Bit(kVsockFStream);
    ASSERT_EQ(InitMmioDevice(*t_, features, qs),
              kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
    for (int i = 0; i < 16; ++i) PostRx(rx_.Alloc(kRxBuf));
    Kick(VsockDevice::kRxQueue);
  }

  void TearDown() override {
    t_.reset();
    dev_.reset();
    std::filesystem::remove_all(dir_);
  }

  void PostRx(uint64_t addr) {
    const uint16_t head = rx_.Post({{addr, kRxBuf, true}});
    rx_bufs_[head] = addr;
    rx_posted_.push_back(head);
  }
  void Kick(size_t q) { MmioWrite32(*t_, mmio::kQueueNotify, static_cast<uint32_t>(q)); }
  // The driver posts one event buffer (struct virtio_vsock_event, 4 bytes) and kicks.
  uint64_t PostEventBuffer() {
    const uint64_t ev = ev_.Alloc(4);
    ev_.Post({{ev, 4, true}});
    Kick(VsockDevice::kEventQueue);
    return ev;
  }

  // One round of the device loop.
  void Pump() {
    loop_->Stop();
    ASSERT_TRUE(loop_->Run(0));
  }
  bool PumpUntil(const std::function<bool()>& done) {
    for (int i = 0; i < 2000; ++i) {
      Pump();
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  // The next packet the device put on the RX queue (the buffer is reposted).
  std::optional<RxPacket> TryRx() {
    auto used = rx_.PopUsed();
    if (!used) return std::nullopt;
    const uint64_t addr = rx_bufs_.at(static_cast<uint16_t>(used->id));
    RxPacket p;
    auto h = rx_.ReadBytes(addr, sizeof(VsockHeader));
    std::memcpy(&p.hdr, h.data(), sizeof p.hdr);
    EXPECT_EQ(used->len, sizeof(VsockHeader) + p.hdr.len);
    auto body = rx_.ReadBytes(addr + sizeof(VsockHeader), p.hdr.len);
    p.payload.assign(body.begin(), body.end());
    PostRx(addr);
    Kick(VsockDevice::kRxQueue);
    return p;
  }
  RxPacket Rx() {
    std::optional<RxPacket> p;
    EXPECT_TRUE(PumpUntil([&] { return (p = TryRx()).has_value(); })) << "no RX packet";
    return p.value_or(RxPacket{});
  }

  void Tx(Op op, uint32_t src_port, uint32_t dst_port, const std::string& payload = "",
          uint32_t flags = 0, uint32_t fwd_cnt = 0, uint32_t buf_alloc = kGuestBufAlloc) {
    PostTx(op, src_port, dst_port, payload, flags, fwd_cnt, buf_alloc);
    Kick(VsockDevice::kTxQueue);
    auto used = tx_.PopUsed();
    EXPECT_TRUE(used.has_value()) << "TX chain not returned";
  }
  // Puts a packet on the TX queue without notifying the device.
  void PostTx(Op op, uint32_t src_port, uint32_t dst_port, const std::string& payload = "",
              uint32_t flags = 0, uint32_t fwd_cnt = 0, uint32_t buf_alloc = kGuestBufAlloc) {
    VsockHeader h = testing::GuestStreamHeader(kCid, src_port, dst_port, op);
    h.len = static_cast<uint32_t>(payload.size());
    h.flags = flags;
    h.buf_alloc = buf_alloc;
    h.fwd_cnt = fwd_cnt;
    const uint32_t len = static_cast<uint32_t>(sizeof h + payload.size());
    const uint64_t addr = tx_.Alloc(len);
    tx_.WriteBytes(addr, std::span(reinterpret_cast<const uint8_t*>(&h), sizeof h));
    tx_.WriteBytes(addr + sizeof h,
                   std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
    tx_.Post({{addr, len, false}});
  }

  // Reads exactly n bytes from a host socket, pumping the device meanwhile.
  std::string ClientRead(int fd, size_t n) {
    std::string out;
    PumpUntil([&] {
      while (out.size() < n && Readable(fd)) {
        char buf[4096];
        ssize_t got = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), MSG_DONTWAIT);
        if (got <= 0) return true;
        out.append(buf, static_cast<size_t>(got));
      }
      return out.size() >= n;
    });
    return out;
  }
  bool WaitEof(int fd) {
    return PumpUntil([&] {
      char c;
      return Readable(fd) && ::recv(fd, &c, 1, MSG_DONTWAIT) == 0;
    });
  }

  // The guest's whole first window (kGuestBufAlloc), sent by the host client `fd`, fills the 16
  // buffers SetUp() posted; they are taken back without reposting, the window stays shut.
  void FillThePostedRxBuffers(int fd) {
    WriteAll(fd, std::string(kGuestBufAlloc, 'a'));
    int filled = 0;
    ASSERT_TRUE(PumpUntil([&] {
      while (rx_.PopUsed()) ++filled;
      return filled == 16;
    })) << filled;
  }

  // A host client connected to guest port `guest_port`, answered by the guest; returns the host
  // port the device chose.
  uint32_t HostConnect(UniqueFd& client, uint32_t guest_port) {
    client = ConnectTo(uds_);
    WriteAll(client.get(), "CONNECT " + std::to_string(guest_port) + "\n");
    RxPacket req = Rx();
    EXPECT_EQ(req.hdr.op, static_cast<uint16_t>(Op::kRequest));
    EXPECT_EQ(req.hdr.dst_port, guest_port);
    EXPECT_EQ(req.hdr.dst_cid, kCid);
    EXPECT_EQ(req.hdr.src_cid, kHostCid);
    EXPECT_GE(req.hdr.src_port, VsockDevice::kFirstHostPort);
    Tx(Op::kResponse, guest_port, req.hdr.src_port);
    const std::string ok = "OK " + std::to_string(req.hdr.src_port) + "\n";
    EXPECT_EQ(ClientRead(client.get(), ok.size()), ok);
    return req.hdr.src_port;
  }

  std::string dir_;
  std::string uds_;
  FakeRam ram_{8 << 20};
  FakeDriver rx_{ram_.mem(), 64, 0x1000, 0x100000};
  FakeDriver tx_{ram_.mem(), 64, 0x4000, 0x400000};
  FakeDriver ev_{ram_.mem(), 64, 0x8000, 0x700000};
  std::map<uint16_t, uint64_t> rx_bufs_;
  std::vector<uint16_t> rx_posted_;  // heads in avail ring order: entry i is rx_posted_[i]
  std::unique_ptr<EventLoop> loop_;
  std::shared_ptr<VsockDevice> dev_;
  int irqs_ = 0;
  std::unique_ptr<MmioTransport> t_;  // last: destroyed first, resets the device
};

}  // namespace uvm::devices::virtio::vsock
