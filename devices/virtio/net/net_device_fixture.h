// The fixture of the virtio-net device tests (net_device_test.cc, net_snapshot_test.cc): the
// device driven by a fake guest driver (FakeDriver through the MMIO transport), with a
// SOCK_SEQPACKET socketpair as the backend: the test holds the other end and plays the host
// network, one message per frame with its 12-byte header, as a tap would.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/net/net_device.h"
#include "devices/virtio/net/net_header.h"
#include "devices/virtio/testing/fake_driver.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::net {

using testing::FakeDriver;
using testing::FakeRam;
using testing::InitMmioDevice;
using testing::MmioRead32;
using testing::MmioWrite32;

constexpr uint32_t kHdr = sizeof(VirtioNetHdr);
constexpr MacAddress kMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
constexpr uint64_t kDriverFeatures = Bit(kFeatureVersion1) | Bit(kNetFMac) | Bit(kNetFStatus) |
                                     Bit(kNetFCsum) | Bit(kNetFGuestCsum) | Bit(kNetFHostTso4) |
                                     Bit(kNetFGuestTso4);
constexpr uint32_t kOk = kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk;

class SocketBackend final : public NetBackend {
 public:
  SocketBackend(UniqueFd fd, uint64_t* offloads) : fd_(std::move(fd)), offloads_(offloads) {}
  int fd() const override { return fd_.get(); }
  Result<void> SetGuestOffloads(uint64_t features) override {
    *offloads_ = features;
    return {};
  }
  std::string Describe() const override { return "socketpair"; }

 private:
  UniqueFd fd_;
  uint64_t* offloads_;
};

inline std::vector<uint8_t> Frame(size_t n, uint8_t seed) {
  std::vector<uint8_t> f(n);
  for (size_t i = 0; i < n; ++i) f[i] = static_cast<uint8_t>(i * 7 + seed);
  return f;
}

inline std::vector<uint8_t> WithHeader(const VirtioNetHdr& h, const std::vector<uint8_t>& frame) {
  std::vector<uint8_t> b(kHdr + frame.size());
  std::memcpy(b.data(), &h, kHdr);
  if (!frame.empty()) std::memcpy(b.data() + kHdr, frame.data(), frame.size());
  return b;
}

class NetDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    host_ = UniqueFd(sv[1]);
    device_end_ = sv[0];
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop);
    loop_ = std::make_unique<EventLoop>(std::move(*loop));
    auto dev = NetDevice::Create(std::make_unique<SocketBackend>(UniqueFd(sv[0]), &offloads_), kMac,
                                 *loop_);
    ASSERT_TRUE(dev) << dev.error().message;
    dev_ = *dev;
    t_ = std::make_unique<MmioTransport>(ram_.mem(), dev_, [this] { ++irqs_; });
  }
  void TearDown() override {
    t_.reset();
    dev_.reset();
  }

  uint32_t Init(uint64_t features = kDriverFeatures) {
    std::array<FakeDriver*, 2> qs = {&rx_, &tx_};
    return InitMmioDevice(*t_, features, qs);
  }
  void Kick(size_t q) { MmioWrite32(*t_, mmio::kQueueNotify, static_cast<uint32_t>(q)); }
  void Pump(int rounds = 1) {
    for (int i = 0; i < rounds; ++i) {
      loop_->Stop();
      ASSERT_TRUE(loop_->Run(0));
    }
  }
  uint16_t PostRx(uint32_t len) {
    const uint64_t addr = rx_.Alloc(len);
    const uint16_t head = rx_.Post({{addr, len, true}});
    rx_bufs_[head] = addr;
    return head;
  }
  // One TX chain: header and frame in separate descriptors, as Linux sends them.
  uint16_t PostTx(const VirtioNetHdr& h, const std::vector<uint8_t>& frame) {
    const uint64_t ha = tx_.Alloc(kHdr);
    tx_.WriteBytes(ha, std::span(reinterpret_cast<const uint8_t*>(&h), kHdr));
    const uint64_t fa = tx_.Alloc(static_cast<uint32_t>(frame.size()));
    tx_.WriteBytes(fa, frame);
    return tx_.Post({{ha, kHdr, false}, {fa, static_cast<uint32_t>(frame.size()), false}});
  }
  // The next message on the host end, if any.
  std::optional<std::vector<uint8_t>> HostRecv() {
    std::vector<uint8_t> buf(kHdr + kMaxFrameBytes);
    const ssize_t n = ::recv(host_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
  // Reads the host end while the device loop runs, until `frames` messages arrived (or 200
  // rounds passed), counting the TX chains handed back to the driver into `returned`.
  std::vector<std::vector<uint8_t>> HostRecvWhilePumping(size_t frames, int& returned) {
    std::vector<std::vector<uint8_t>> got;
    for (int round = 0; round < 200 && got.size() < frames; ++round) {
      while (auto m = HostRecv()) got.push_back(*m);
      Pump();
      while (tx_.PopUsed()) ++returned;
    }
    return got;
  }
  void HostSend(const std::vector<uint8_t>& msg) {
    ASSERT_EQ(::send(host_.get(), msg.data(), msg.size(), MSG_DONTWAIT),
              static_cast<ssize_t>(msg.size()));
  }
  bool NeedsReset() { return (MmioRead32(*t_, mmio::kStatus) & kStatusNeedsReset) != 0; }

  FakeRam ram_{8 << 20};
  FakeDriver rx_{ram_.mem(), 16, 0x1000, 0x100000};
  FakeDriver tx_{ram_.mem(), 16, 0x3000, 0x400000};
  std::map<uint16_t, uint64_t> rx_bufs_;
  UniqueFd host_;
  int device_end_ = -1;
  uint64_t offloads_ = ~uint64_t{0};
  std::unique_ptr<EventLoop> loop_;
  std::shared_ptr<NetDevice> dev_;
  std::unique_ptr<MmioTransport> t_;
  int irqs_ = 0;
};

constexpr uint64_t kMergeable = kDriverFeatures | Bit(kNetFMrgRxbuf);

// The bytes of one mergeable packet: `count` used buffers, the first one's header says how many.
struct MergedPacket {
  VirtioNetHdr hdr{};
  std::vector<uint8_t> frame;
  size_t buffers = 0;
};

class MergeableNetDeviceTest : public NetDeviceTest {
 protected:
  std::optional<MergedPacket> NextPacket() {
    auto first = rx_.PopUsed();
    if (!first) return std::nullopt;
    MergedPacket p;
    auto bytes = rx_.ReadBytes(rx_bufs_.at(static_cast<uint16_t>(first->id)), first->len);
    EXPECT_GE(bytes.size(), kHdr);
    std::memcpy(&p.hdr, bytes.data(), kHdr);
    p.frame.assign(bytes.begin() + kHdr, bytes.end());
    p.buffers = 1;
    for (; p.buffers < p.hdr.num_buffers; ++p.buffers) {
      auto more = rx_.PopUsed();
      EXPECT_TRUE(more) << "num_buffers " << p.hdr.num_buffers << ", only " << p.buffers;
      if (!more) break;
      auto b = rx_.ReadBytes(rx_bufs_.at(static_cast<uint16_t>(more->id)), more->len);
      p.frame.insert(p.frame.end(), b.begin(), b.end());
    }
    return p;
  }
};

}  // namespace uvm::devices::virtio::net
