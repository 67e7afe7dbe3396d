// Microbenchmarks of the virtio data path, run natively (no KVM, no lab): what uvm's own code
// costs per chain and per packet, beside the kernel's copy that it cannot avoid. The guest side is
// the fake driver of the unit tests; the lab's `uvm bench io` measures the whole system instead.
//
//   build/bench/virtio_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/event_loop.h"
#include "base/unique_fd.h"
#include "base/unix_socket.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/queue.h"
#include "devices/virtio/testing/fake_driver.h"
#include "devices/virtio/virtio_spec.h"
#include "devices/virtio/vsock/packet.h"
#include "devices/virtio/vsock/test_chain.h"
#include "devices/virtio/vsock/vsock_device.h"

namespace uvm::devices::virtio {
namespace {

using testing::FakeDriver;
using testing::FakeRam;

// Linux's vsock and net RX buffers: one device-writable 4 KiB buffer per chain.
constexpr uint32_t kBuf = 4096;

// The chain walker and the used ring: a batch of 64 single-buffer chains popped and used.
void BM_QueuePopPush(benchmark::State& state) {
  constexpr int kBatch = 64;
  FakeRam ram(4 << 20);
  FakeDriver drv(ram.mem(), 256, 0x1000, 0x100000);
  Queue q(256);
  q.state() = drv.ReadyState(/*event_idx=*/true);
  if (!q.Enable(ram.mem())) return state.SkipWithError("queue layout refused");
  std::vector<uint64_t> bufs;
  for (int i = 0; i < kBatch; ++i) bufs.push_back(drv.Alloc(kBuf));
  Chain chain;
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) drv.Post({{bufs[i], kBuf, true}});
    for (int i = 0; i < kBatch; ++i) {
      auto popped = q.PopChainInto(ram.mem(), chain);
      if (!popped || !*popped) return state.SkipWithError("no chain popped");
      q.PushUsed(ram.mem(), chain.head, kBuf);
    }
    while (drv.PopUsed()) {
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_QueuePopPush);

}  // namespace

namespace vsock {
namespace {

constexpr uint64_t kGuestCid = 3;
constexpr uint32_t kGuestPort = 1234;
constexpr uint32_t kHostPort = 7001;

// The virtio-vsock device behind its MMIO transport with a fake guest driver, and a host listener
// the guest connects to (as `uvm bench io`'s host -> guest phase does).
class VsockBench {
 public:
  bool Init(benchmark::State& state) {
    char tmpl[] = "/tmp/uvm_virtio_bench_XXXXXX";
    if (!::mkdtemp(tmpl)) return Fail(state, "mkdtemp");
    dir_ = tmpl;
    const std::string uds = dir_ + "/vsock.sock";
    auto loop = EventLoop::Create();
    if (!loop) return Fail(state, "event loop");
    loop_ = std::make_unique<EventLoop>(std::move(*loop));
    auto dev = VsockDevice::Create(kGuestCid, uds, *loop_);
    if (!dev) return Fail(state, dev.error().message);
    dev_ = *dev;
    transport_ = std::make_unique<MmioTransport>(ram_.mem(), dev_, [] {});
    std::array<FakeDriver*, 3> qs = {&rx_, &tx_, &ev_};
    const uint64_t features = Bit(kFeatureVersion1) | Bit(kVsockFStream) | Bit(kFeatureEventIdx);
    virtio::testing::InitMmioDevice(*transport_, features, qs);
    auto listener = ListenUnix(uds + "_" + std::to_string(kHostPort));
    if (!listener) return Fail(state, listener.error().message);
    // The guest connects; the device connects to the listener and answers RESPONSE on RX.
    rx_.Post({{rx_.Alloc(sizeof(VsockHeader) + kBuf), sizeof(VsockHeader) + kBuf, true}});
    Kick(VsockDevice::kRxQueue);
    SendTx(Op::kRequest, 0, 0);
    server_ = UniqueFd(::accept(listener->get(), nullptr, nullptr));
    if (!server_.valid()) return Fail(state, "accept");
    const int big = 4 << 20;  // a whole window queued at once, as a fast host client would
    ::setsockopt(server_.get(), SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    Pump();
    if (!rx_.PopUsed()) return Fail(state, "no RESPONSE");
    return true;
  }
  ~VsockBench() {
    transport_.reset();
    dev_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // One credit window host -> guest: the guest posts `bufs` (each with `room` bytes of payload
  // room), the host writes `data` (as many bytes as the buffers hold), the guest opens a window
  // of that size with a credit update and the device fills the buffers. False if it did not.
  bool Window(const std::vector<uint64_t>& bufs, uint32_t room, const std::string& data) {
    for (uint64_t b : bufs)
      rx_.Post({{b, static_cast<uint32_t>(sizeof(VsockHeader)) + room, true}});
    for (size_t off = 0; off < data.size();) {
      const ssize_t n = ::send(server_.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    SendTx(Op::kCreditUpdate, fwd_cnt_, static_cast<uint32_t>(data.size()));
    size_t got = 0;
    for (int round = 0; got < bufs.size() && round < 1000; ++round) {
      Pump();
      while (rx_.PopUsed()) ++got;
    }
    fwd_cnt_ += static_cast<uint32_t>(data.size());
    return got == bufs.size();
  }

  FakeDriver& rx() { return rx_; }

 private:
  static bool Fail(benchmark::State& state, const std::string& why) {
    state.SkipWithError(why.c_str());
    return false;
  }
  void Kick(uint32_t q) { virtio::testing::MmioWrite32(*transport_, mmio::kQueueNotify, q); }
  void Pump() {
    loop_->Stop();
    (void)loop_->Run(0);
  }
  // A header-only packet from the guest's socket, and the TX kick.
  void SendTx(Op op, uint32_t fwd_cnt, uint32_t buf_alloc) {
    VsockHeader h = testing::GuestStreamHeader(kGuestCid, kGuestPort, kHostPort, op);
    h.buf_alloc = buf_alloc;
    h.fwd_cnt = fwd_cnt;
    if (tx_slot_ == 0) tx_slot_ = tx_.Alloc(sizeof h);
    tx_.WriteBytes(tx_slot_, std::span(reinterpret_cast<const uint8_t*>(&h), sizeof h));
    tx_.Post({{tx_slot_, static_cast<uint32_t>(sizeof h), false}});
    Kick(VsockDevice::kTxQueue);
    while (tx_.PopUsed()) {
    }
  }

  std::string dir_;
  FakeRam ram_{16 << 20};
  FakeDriver rx_{ram_.mem(), 256, 0x1000, 0x100000};
  FakeDriver tx_{ram_.mem(), 256, 0x8000, 0xc00000};
  FakeDriver ev_{ram_.mem(), 64, 0xe000, 0xe00000};
  std::unique_ptr<EventLoop> loop_;
  std::shared_ptr<VsockDevice> dev_;
  std::unique_ptr<MmioTransport> transport_;
  UniqueFd server_;
  uint64_t tx_slot_ = 0;
  uint32_t fwd_cnt_ = 0;
};

// Host -> guest through the device: 71 packets per 256 KiB-ish window into buffers with the
// Debian 6.1 guest's 3732 bytes of payload room, as in the lab. Bytes/s counts payload.
void BM_VsockHostToGuestWindow(benchmark::State& state) {
  constexpr uint32_t kRoom = 3732;
  constexpr size_t kPackets = 71;
  VsockBench b;
  if (!b.Init(state)) return;
  std::vector<uint64_t> bufs;
  for (size_t i = 0; i < kPackets; ++i) {
    bufs.push_back(b.rx().Alloc(static_cast<uint32_t>(sizeof(VsockHeader)) + kRoom));
  }
  const std::string data(kPackets * kRoom, 'h');
  for (auto _ : state) {
    if (!b.Window(bufs, kRoom, data)) return state.SkipWithError("window not delivered");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kPackets));
}
BENCHMARK(BM_VsockHostToGuestWindow);

}  // namespace
}  // namespace vsock
}  // namespace uvm::devices::virtio

BENCHMARK_MAIN();
