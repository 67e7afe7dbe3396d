#include "devices/virtio/block/block_device.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/testing/fake_driver.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::block {
namespace {

using testing::FakeBuffer;
using testing::FakeDriver;
using testing::FakeRam;
using testing::InitMmioDevice;
using testing::MmioRead32;
using testing::MmioWrite32;
using testing::UsedElem;

constexpr uint64_t kDiskSectors = 64;
constexpr uint64_t kFlush = uint64_t{1} << kBlkFFlush;

uint64_t DriverFeatures(bool read_only, bool event_idx = false) {
  uint64_t f = BlockFeatures(read_only) | Bit(kFeatureVersion1) | Bit(kFeatureIndirectDesc);
  if (event_idx) f |= Bit(kFeatureEventIdx);
  return f;
}

// A temporary image of `sectors` sectors whose byte i is (i * 7) & 0xff; removed at the end.
class TempImage {
 public:
  explicit TempImage(uint64_t sectors) {
    char name[] = "/tmp/uvm_blkdev_test_XXXXXX";
    fd_.Reset(::mkstemp(name));
    path_ = name;
    EXPECT_TRUE(fd_.valid());
    std::vector<uint8_t> bytes(sectors * kSectorSize);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7);
    EXPECT_EQ(::pwrite(fd_.get(), bytes.data(), bytes.size(), 0),
              static_cast<ssize_t>(bytes.size()));
  }
  ~TempImage() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  std::vector<uint8_t> Contents() const {
    std::vector<uint8_t> out(static_cast<size_t>(::lseek(fd_.get(), 0, SEEK_END)));
    EXPECT_EQ(::pread(fd_.get(), out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
    return out;
  }
  void Truncate(uint64_t bytes) { ASSERT_EQ(::ftruncate(fd_.get(), static_cast<off_t>(bytes)), 0); }

 private:
  UniqueFd fd_;
  std::string path_;
};

struct Reply {
  UsedElem used{};
  uint8_t status = 0xff;
  std::vector<uint8_t> data;  // what the device wrote into the data buffer (reads, GET_ID)
};

class BlockDeviceTest : public ::testing::TestWithParam<EngineKind> {
 protected:
  void Open(bool read_only) {
    auto disk = Disk::Open({image_.path(), read_only});
    ASSERT_TRUE(disk) << disk.error().message;
    auto dev = BlockDevice::Create(std::move(*disk), GetParam());
    ASSERT_TRUE(dev) << dev.error().message;
    dev_ = *dev;
    t_ = std::make_unique<MmioTransport>(ram_.mem(), dev_, [this] { ++irqs_; });
  }

  // Opens the disk and runs the driver initialization.
  void Start(bool read_only = false, uint64_t features = 0) {
    Open(read_only);
    if (features == 0) features = DriverFeatures(read_only);
    std::array<FakeDriver*, 1> qs = {drv_.get()};
    ASSERT_EQ(InitMmioDevice(*t_, features, qs),
              kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  }

  // Posts one request (header, then `out` as a readable data buffer if not empty, then an
  // `in_len`-byte writable data buffer if in_len > 0, then the status byte) without kicking.
  uint64_t Post(uint32_t type, uint64_t sector, const std::vector<uint8_t>& out, uint32_t in_len,
                uint64_t* in_addr) {
    BlockRequestHeader hdr{type, 0, sector};
    const uint64_t h = drv_->Alloc(sizeof hdr);
    drv_->WriteBytes(h, std::span(reinterpret_cast<const uint8_t*>(&hdr), sizeof hdr));
    std::vector<FakeBuffer> bufs = {{h, sizeof hdr, false}};
    if (!out.empty()) {
      const uint64_t d = drv_->Alloc(static_cast<uint32_t>(out.size()));
      drv_->WriteBytes(d, out);
      bufs.push_back({d, static_cast<uint32_t>(out.size()), false});
    }
    *in_addr = 0;
    if (in_len > 0) {
      *in_addr = drv_->Alloc(in_len);
      bufs.push_back({*in_addr, in_len, true});
    }
    const uint64_t status = drv_->Alloc(1);
    const uint8_t ff = 0xff;
    drv_->WriteBytes(status, std::span(&ff, 1));
    bufs.push_back({status, 1, true});
    drv_->Publish(drv_->AddChain(bufs));
    return status;
  }

  void Kick() { MmioWrite32(*t_, mmio::kQueueNotify, 0); }

  // Runs the device loop until the driver sees a used element.
  std::optional<UsedElem> WaitUsed() {
    for (int i = 0; i < 500; ++i) {
      if (auto u = drv_->PopUsed()) return u;
      pollfd p{dev_->io_event_fd(), POLLIN, 0};
      ::poll(&p, 1, 10);
      dev_->ProcessIoCompletions();
    }
    return std::nullopt;
  }

  Reply Do(uint32_t type, uint64_t sector, const std::vector<uint8_t>& out = {},
           uint32_t in_len = 0) {
    uint64_t in_addr = 0;
    const uint64_t status = Post(type, sector, out, in_len, &in_addr);
    Kick();
    Reply r;
    auto used = WaitUsed();
    EXPECT_TRUE(used.has_value()) << "no reply";
    if (!used) return r;
    r.used = *used;
    r.status = drv_->ReadBytes(status, 1)[0];
    if (in_len > 0) r.data = drv_->ReadBytes(in_addr, in_len);
    return r;
  }

  uint64_t ConfigCapacity() {
    return MmioRead32(*t_, mmio::kConfig) | (uint64_t{MmioRead32(*t_, mmio::kConfig + 4)} << 32);
  }

  TempImage image_{kDiskSectors};
  FakeRam ram_{4 << 20};
  std::unique_ptr<FakeDriver> drv_ = std::make_unique<FakeDriver>(ram_.mem(), 16, 0x1000, 0x10000);
  std::shared_ptr<BlockDevice> dev_;
  int irqs_ = 0;
  std::unique_ptr<MmioTransport> t_;  // last: destroyed first, resets the device
};

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 13 + (i >> 9));
  return v;
}

TEST_P(BlockDeviceTest, InitReachesDriverOkAndShowsConfig) {
  Start();
  EXPECT_EQ(MmioRead32(*t_, mmio::kDeviceId), kDeviceIdBlock);
  EXPECT_EQ(t_->offered_features(), BlockFeatures(false) | Bit(kFeatureVersion1) |
                                        Bit(kFeatureIndirectDesc) | Bit(kFeatureEventIdx));
  EXPECT_EQ(ConfigCapacity(), kDiskSectors);
  MmioWrite32(*t_, mmio::kQueueSel, 0);
  EXPECT_EQ(MmioRead32(*t_, mmio::kQueueNumMax), BlockDevice::kQueueSize);
  EXPECT_EQ(MmioRead32(*t_, mmio::kConfig + offsetof(VirtioBlkConfig, blk_size)), 512u);
}

TEST_P(BlockDeviceTest, WriteThenReadThreeSectors) {
  Start();
  const auto data = Pattern(3 * kSectorSize, 0x5a);
  Reply w = Do(kBlkTOut, 5, data);
  EXPECT_EQ(w.status, kBlkSOk);
  EXPECT_EQ(w.used.len, 1u);
  Reply r = Do(kBlkTIn, 5, {}, 3 * kSectorSize);
  EXPECT_EQ(r.status, kBlkSOk);
  EXPECT_EQ(r.used.len, 3 * kSectorSize + 1);
  EXPECT_EQ(r.data, data);
  // And it reached the file, at the right place.
  auto file = image_.Contents();
  EXPECT_TRUE(std::equal(data.begin(), data.end(), file.begin() + 5 * kSectorSize));
  EXPECT_EQ(file[5 * kSectorSize - 1], static_cast<uint8_t>((5 * kSectorSize - 1) * 7));
  EXPECT_EQ(dev_->in_flight(), 0u);
}

TEST_P(BlockDeviceTest, WriteThroughWithoutFlushFeature) {
  Start(false, DriverFeatures(false) & ~kFlush);
  const auto data = Pattern(2 * kSectorSize, 3);
  EXPECT_EQ(Do(kBlkTOut, 0, data).status, kBlkSOk);
  EXPECT_EQ(Do(kBlkTIn, 0, {}, 2 * kSectorSize).data, data);
  EXPECT_EQ(dev_->in_flight(), 0u);
}

TEST_P(BlockDeviceTest, FlushCompletes) {
  Start();
  Do(kBlkTOut, 1, Pattern(kSectorSize, 1));
  Reply f = Do(kBlkTFlush, 0);
  EXPECT_EQ(f.status, kBlkSOk);
  EXPECT_EQ(f.used.len, 1u);
}

TEST_P(BlockDeviceTest, GetIdReturnsDiskId) {
  Start();
  Reply r = Do(kBlkTGetId, 0, {}, kBlockIdBytes);
  EXPECT_EQ(r.status, kBlkSOk);
  EXPECT_EQ(r.used.len, kBlockIdBytes + 1);
  const auto& id = dev_->disk().id();
  EXPECT_EQ(r.data, std::vector<uint8_t>(id.begin(), id.end()));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(r.data.data()), 4), "uvm-");
}

TEST_P(BlockDeviceTest, UnsupportedTypeAnswersUnsupp) {
  Start();
  Reply r = Do(11 /* DISCARD, not offered */, 0, Pattern(16, 0));
  EXPECT_EQ(r.status, kBlkSUnsupp);
  EXPECT_EQ(r.used.len, 1u);
}

TEST_P(BlockDeviceTest, ReadOnlyDiskRefusesWrites) {
  const auto before = image_.Contents();
  Start(/*read_only=*/true);
  EXPECT_NE(t_->offered_features() & (uint64_t{1} << kBlkFRo), 0u);
  Reply w = Do(kBlkTOut, 0, Pattern(kSectorSize, 9));
  EXPECT_EQ(w.status, kBlkSIoErr);
  EXPECT_EQ(w.used.len, 1u);
  EXPECT_EQ(image_.Contents(), before);
  // Reads still work.
  Reply r = Do(kBlkTIn, 0, {}, kSectorSize);
  EXPECT_EQ(r.status, kBlkSOk);
  EXPECT_EQ(r.data, std::vector<uint8_t>(before.begin(), before.begin() + kSectorSize));
}

TEST_P(BlockDeviceTest, PastCapacityIsIoErr) {
  Start();
  const auto before = image_.Contents();
  Reply r = Do(kBlkTIn, kDiskSectors - 1, {}, 2 * kSectorSize);
  EXPECT_EQ(r.status, kBlkSIoErr);
  EXPECT_EQ(r.used.len, 1u);
  Reply w = Do(kBlkTOut, kDiskSectors, Pattern(kSectorSize, 2));
  EXPECT_EQ(w.status, kBlkSIoErr);
  EXPECT_EQ(image_.Contents(), before);
  // The last sector itself is fine.
  EXPECT_EQ(Do(kBlkTIn, kDiskSectors - 1, {}, kSectorSize).status, kBlkSOk);
}

TEST_P(BlockDeviceTest, ChainWithoutWritableByteComesBackEmpty) {
  Start();
  BlockRequestHeader hdr{kBlkTIn, 0, 0};
  const uint64_t h = drv_->Alloc(sizeof hdr);
  drv_->WriteBytes(h, std::span(reinterpret_cast<const uint8_t*>(&hdr), sizeof hdr));
  const uint16_t head = drv_->Post({{h, sizeof hdr, false}});
  Kick();
  auto used = WaitUsed();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->id, head);
  EXPECT_EQ(used->len, 0u);
  EXPECT_EQ(t_->status() & kStatusNeedsReset, 0u);
  // The device keeps working.
  EXPECT_EQ(Do(kBlkTGetId, 0, {}, kBlockIdBytes).status, kBlkSOk);
}

TEST_P(BlockDeviceTest, RaisesInterrupts) {
  Start();
  EXPECT_EQ(irqs_, 0);
  Do(kBlkTGetId, 0, {}, kBlockIdBytes);  // answered inside ProcessQueue
  EXPECT_EQ(irqs_, 1);
  EXPECT_EQ(t_->interrupt_status() & mmio::kIntUsedBuffer, mmio::kIntUsedBuffer);
  MmioWrite32(*t_, mmio::kInterruptAck, mmio::kIntUsedBuffer);
  Do(kBlkTIn, 0, {}, kSectorSize);  // answered from the engine completion
  EXPECT_EQ(irqs_, 2);
  EXPECT_EQ(t_->interrupt_status() & mmio::kIntUsedBuffer, mmio::kIntUsedBuffer);
}

TEST_P(BlockDeviceTest, NoInterruptWhenDriverSuppressesThem) {
  Start();
  drv_->SetAvailFlags(kAvailFNoInterrupt);
  EXPECT_EQ(Do(kBlkTIn, 0, {}, kSectorSize).status, kBlkSOk);
  EXPECT_EQ(irqs_, 0);
}

TEST_P(BlockDeviceTest, EventIdxInterruptsWhenUsedEventPassed) {
  Start(false, DriverFeatures(false, /*event_idx=*/true));
  drv_->SetUsedEvent(0);  // interrupt for the first used entry
  EXPECT_EQ(Do(kBlkTIn, 0, {}, kSectorSize).status, kBlkSOk);
  EXPECT_EQ(irqs_, 1);
  // used_event stays 0: the driver asked for no more interrupts.
  EXPECT_EQ(Do(kBlkTIn, 1, {}, kSectorSize).status, kBlkSOk);
  EXPECT_EQ(irqs_, 1);
  drv_->SetUsedEvent(drv_->UsedIdx());  // interrupt me for the next one
  EXPECT_EQ(Do(kBlkTOut, 1, Pattern(kSectorSize, 4)).status, kBlkSOk);
  EXPECT_EQ(irqs_, 2);
}

// Five chains of three descriptors fit in the 16-entry table at once (FakeDriver reuses
// descriptors round-robin, so more would overwrite chains still in flight).
TEST_P(BlockDeviceTest, ManyRequestsInOneKick) {
  Start();
  std::vector<uint64_t> statuses;
  for (uint64_t s = 0; s < 5; ++s) {
    uint64_t in = 0;
    statuses.push_back(Post(kBlkTOut, s, Pattern(kSectorSize, static_cast<uint8_t>(s)), 0, &in));
  }
  Kick();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(WaitUsed()) << i;
  for (uint64_t st : statuses) EXPECT_EQ(drv_->ReadBytes(st, 1)[0], kBlkSOk);
  for (uint64_t s = 0; s < 5; ++s) {
    EXPECT_EQ(Do(kBlkTIn, s, {}, kSectorSize).data, Pattern(kSectorSize, static_cast<uint8_t>(s)));
  }
}

TEST_P(BlockDeviceTest, ResetDrainsInFlightRequests) {
  Start();
  for (uint64_t s = 0; s < 5; ++s) {
    uint64_t in = 0;
    Post(kBlkTOut, s, Pattern(kSectorSize, 1), 0, &in);
  }
  Kick();  // submitted; completions not yet processed
  MmioWrite32(*t_, mmio::kStatus, 0);
  EXPECT_EQ(dev_->in_flight(), 0u);
  EXPECT_EQ(drv_->UsedIdx(), 0);  // nothing pushed after the reset
  // A stale completion wake-up is harmless.
  dev_->ProcessIoCompletions();
  EXPECT_EQ(drv_->UsedIdx(), 0);
  // The device comes back after a new initialization.
  drv_ = std::make_unique<FakeDriver>(ram_.mem(), 16, 0x3000, 0x200000);
  std::array<FakeDriver*, 1> qs = {drv_.get()};
  ASSERT_EQ(InitMmioDevice(*t_, DriverFeatures(false), qs) & kStatusDriverOk, kStatusDriverOk);
  EXPECT_EQ(Do(kBlkTGetId, 0, {}, kBlockIdBytes).status, kBlkSOk);
}

// A hostile driver republishing a head that is still in flight cannot grow the in-flight map
// past the queue size: the device reports a broken queue instead.
TEST_P(BlockDeviceTest, RepublishedHeadsBeyondQueueSizeBreakTheQueue) {
  Start();
  uint64_t in = 0;
  Post(kBlkTIn, 0, {}, kSectorSize, &in);
  for (int i = 1; i < 16; ++i) drv_->Publish(0);
  Kick();
  EXPECT_EQ(t_->status() & kStatusNeedsReset, 0u);
  EXPECT_EQ(dev_->in_flight(), 16u);
  drv_->Publish(0);
  Kick();
  EXPECT_EQ(t_->status() & kStatusNeedsReset, kStatusNeedsReset);
  // Completions after the failure no longer touch the ring.
  for (int i = 0; i < 50 && dev_->in_flight() > 0; ++i) {
    pollfd p{dev_->io_event_fd(), POLLIN, 0};
    ::poll(&p, 1, 10);
    dev_->ProcessIoCompletions();
  }
  EXPECT_EQ(dev_->in_flight(), 0u);
  EXPECT_EQ(drv_->UsedIdx(), 0);
}

TEST_P(BlockDeviceTest, UpdateCapacityRaisesConfigChange) {
  Start();
  const uint32_t gen = MmioRead32(*t_, mmio::kConfigGeneration);
  // Unchanged size: nothing to tell the driver.
  ASSERT_TRUE(dev_->UpdateCapacity());
  EXPECT_EQ(irqs_, 0);
  image_.Truncate(2 * kDiskSectors * kSectorSize + 100);  // the partial sector is not exposed
  auto r = dev_->UpdateCapacity();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(irqs_, 1);
  EXPECT_EQ(t_->interrupt_status() & mmio::kIntConfigChange, mmio::kIntConfigChange);
  EXPECT_NE(MmioRead32(*t_, mmio::kConfigGeneration), gen);
  EXPECT_EQ(dev_->capacity_sectors(), 2 * kDiskSectors);
  EXPECT_EQ(ConfigCapacity(), 2 * kDiskSectors);
  // The new sectors are usable.
  const auto data = Pattern(kSectorSize, 77);
  EXPECT_EQ(Do(kBlkTOut, 2 * kDiskSectors - 1, data).status, kBlkSOk);
  EXPECT_EQ(Do(kBlkTIn, 2 * kDiskSectors - 1, {}, kSectorSize).data, data);
}

// Before a snapshot every request the engine took is finished into the used ring, write-through
// ones (a write, then the fdatasync its completion submits) included, so the saved queue state
// holds no request a restored device would not know of.
TEST_P(BlockDeviceTest, QuiesceFinishesEveryRequestInFlight) {
  Start(false, DriverFeatures(false) & ~kFlush);
  std::vector<uint64_t> statuses;
  for (uint64_t s = 0; s < 4; ++s) {
    uint64_t in = 0;
    statuses.push_back(Post(kBlkTOut, s, Pattern(kSectorSize, static_cast<uint8_t>(s)), 0, &in));
  }
  Kick();  // submitted; no completion processed yet
  ASSERT_EQ(dev_->in_flight(), 4u);
  ASSERT_EQ(drv_->UsedIdx(), 0);
  auto r = t_->Quiesce();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(dev_->in_flight(), 0u);
  EXPECT_EQ(drv_->UsedIdx(), 4);
  for (uint64_t st : statuses) EXPECT_EQ(drv_->ReadBytes(st, 1)[0], kBlkSOk);
  EXPECT_GT(irqs_, 0);
  const MmioTransportState saved = t_->SaveState();
  EXPECT_EQ(saved.queues[0].next_avail, 4);
  EXPECT_EQ(saved.queues[0].next_used, 4);
  EXPECT_EQ(image_.Contents()[3 * kSectorSize], Pattern(kSectorSize, 3)[0]);
}

// A template booted with an empty placeholder disk; its clone runs on the container's disk. The
// restored driver still believes the capacity is 0 until the device announces the real one.
TEST_P(BlockDeviceTest, CloneOnTheRealDiskAnnouncesItsCapacity) {
  TempImage placeholder(0);
  auto empty = Disk::Open({placeholder.path(), false});
  ASSERT_TRUE(empty) << empty.error().message;
  auto tmpl_dev = BlockDevice::Create(std::move(*empty), GetParam());
  ASSERT_TRUE(tmpl_dev) << tmpl_dev.error().message;
  EXPECT_EQ((*tmpl_dev)->capacity_sectors(), 0u);
  MmioTransportState saved;
  {
    MmioTransport tmpl(ram_.mem(), *tmpl_dev, nullptr);
    std::array<FakeDriver*, 1> qs = {drv_.get()};
    ASSERT_EQ(InitMmioDevice(tmpl, DriverFeatures(false), qs) & kStatusDriverOk, kStatusDriverOk);
    EXPECT_EQ(MmioRead32(tmpl, mmio::kConfig), 0u);
    ASSERT_TRUE(tmpl.Quiesce());
    saved = tmpl.SaveState();
  }

  Open(false);  // the clone's device, on the 64-sector image
  auto r = t_->RestoreState(saved);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(irqs_, 0);
  ASSERT_TRUE(dev_->UpdateCapacity());  // the device's own view did not change: no interrupt
  EXPECT_EQ(irqs_, 0);
  ASSERT_TRUE(dev_->AnnounceCapacity());
  EXPECT_EQ(irqs_, 1);
  EXPECT_EQ(t_->interrupt_status() & mmio::kIntConfigChange, mmio::kIntConfigChange);
  EXPECT_NE(MmioRead32(*t_, mmio::kConfigGeneration), saved.config_generation);
  EXPECT_EQ(ConfigCapacity(), kDiskSectors);
  // The driver carries on with the restored queue and reaches the last sector.
  EXPECT_EQ(Do(kBlkTIn, kDiskSectors - 1, {}, kSectorSize).status, kBlkSOk);
}

// The template's placeholder: a 0-sector device answers, and refuses every sector.
TEST_P(BlockDeviceTest, EmptyDiskHasNoSectors) {
  TempImage placeholder(0);
  auto empty = Disk::Open({placeholder.path(), false});
  ASSERT_TRUE(empty) << empty.error().message;
  auto dev = BlockDevice::Create(std::move(*empty), GetParam());
  ASSERT_TRUE(dev) << dev.error().message;
  dev_ = *dev;
  t_ = std::make_unique<MmioTransport>(ram_.mem(), dev_, [this] { ++irqs_; });
  std::array<FakeDriver*, 1> qs = {drv_.get()};
  ASSERT_EQ(InitMmioDevice(*t_, DriverFeatures(false), qs) & kStatusDriverOk, kStatusDriverOk);
  EXPECT_EQ(ConfigCapacity(), 0u);
  EXPECT_EQ(Do(kBlkTIn, 0, {}, kSectorSize).status, kBlkSIoErr);
  EXPECT_EQ(Do(kBlkTGetId, 0, {}, kBlockIdBytes).status, kBlkSOk);
}

INSTANTIATE_TEST_SUITE_P(Engines, BlockDeviceTest,
                         ::testing::Values(EngineKind::kSync, EngineKind::kAio),
                         [](const ::testing::TestParamInfo<EngineKind>& info) {
                           return info.param == EngineKind::kSync ? "Sync" : "Aio";
                         });

}  // namespace
}  // namespace uvm::devices::virtio::block
