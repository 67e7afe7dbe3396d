// Device sections of the state file: they round-trip, a block device restored from them into a
// fresh transport keeps answering the driver, and hostile sections or a different device layout
// are refused with an error naming the problem.
#include "vmm/snapshot/device_state.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "devices/virtio/block/block_device.h"
#include "devices/virtio/block/disk_config.h"
#include "devices/virtio/block/request.h"
#include "devices/virtio/testing/fake_driver.h"
#include "devices/virtio/virtio_spec.h"
#include "vmm/snapshot/codec.h"
#include "vmm/snapshot/format.h"
#include "vmm/snapshot/state_file.h"
#include "vmm/snapshot/test_state.h"

namespace uvm::vmm::snapshot {
namespace {

namespace virtio = devices::virtio;
namespace block = devices::virtio::block;
using virtio::testing::FakeDriver;
using virtio::testing::FakeRam;

std::string ParseError(const SnapshotState& s) {
  auto r = ParseState(SerializeState(s));
  return r ? "" : r.error().message;
}

TEST(DeviceState, RoundTripsThroughTheStateFile) {
  SnapshotState s = ValidTestState(1);
  auto parsed = ParseState(SerializeState(s));
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_TRUE(parsed->serial);
  EXPECT_EQ(*parsed->serial, *s.serial);
  ASSERT_EQ(parsed->virtio.size(), 1u);
  EXPECT_EQ(parsed->virtio[0].transport, s.virtio[0].transport);
  EXPECT_EQ(SerializeState(*parsed), SerializeState(s));
}

TEST(DeviceState, DeviceSectionsAreOptional) {
  SnapshotState s = ValidTestState(1);
  s.serial.reset();
  s.virtio.clear();
  auto parsed = ParseState(SerializeState(s));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_FALSE(parsed->serial);
  EXPECT_TRUE(parsed->virtio.empty());
}

struct Hostile {
  const char* name;
  std::function<void(SnapshotState&)> mutate;
  const char* error;
};

class DeviceStateRefuses : public ::testing::TestWithParam<Hostile> {};

TEST_P(DeviceStateRefuses, TheField) {
  SnapshotState s = ValidTestState(1);
  GetParam().mutate(s);
  std::string e = ParseError(s);
  EXPECT_NE(e, "") << GetParam().name;
  EXPECT_NE(e.find(GetParam().error), std::string::npos) << e;
}

virtio::MmioTransportState& T(SnapshotState& s) { return s.virtio[0].transport; }
virtio::QueueState& Q(SnapshotState& s) { return s.virtio[0].transport.queues[0]; }

const Hostile kHostile[] = {
    {"serial IER", [](auto& s) { s.serial->ier = 0x10; }, "IER"},
    {"serial MCR", [](auto& s) { s.serial->mcr = 0x80; }, "MCR"},
    {"serial FIFO overfull", [](auto& s) { s.serial->rx.assign(4097, 'x'); },
     "4097 received bytes"},
    {"unknown device type", [](auto& s) { T(s).device_type = 7; }, "unknown device type 7"},
    {"slot out of order", [](auto& s) { s.virtio[0].slot = 1; }, "out of order"},
    {"slot beyond any", [](auto& s) { s.virtio[0].slot = 1000; }, "slot 1000 does not exist"},
    {"second slot out of order", [](auto& s) { s.virtio.push_back(s.virtio[0]); }, "out of order"},
    {"no queues", [](auto& s) { T(s).queues.clear(); }, "0 queues"},
    {"too many queues", [](auto& s) { T(s).queues.assign(257, Q(s)); }, "257 queues"},
    {"device status bit", [](auto& s) { T(s).status |= 0x40; }, "no driver can set"},
    {"DRIVER_OK without FEATURES_OK", [](auto& s) { T(s).status = 1 | 2 | 4; }, "3.1.1"},
    {"features changed after FEATURES_OK", [](auto& s) { T(s).driver_features = 1ull << 32; },
     "FEATURES_OK accepts"},
    {"interrupt bits", [](auto& s) { T(s).interrupt_status = 8; }, "interrupt status"},
    {"queue size not a power of two", [](auto& s) { Q(s).size = 100; }, "size 100"},
    {"queue size above maximum", [](auto& s) { Q(s).size = 512; }, "size 512"},
    {"queue maximum not a power of two", [](auto& s) { Q(s).max_size = 300; }, "maximum size 300"},
    {"next_used ahead of next_avail", [](auto& s) { Q(s).next_used = 6; }, "used index 6"},
    {"next_avail beyond the ring", [](auto& s) { Q(s).next_avail = 300; }, "used index 3"},
    {"ring features", [](auto& s) { Q(s).indirect = true; }, "ring features"},
};

INSTANTIATE_TEST_SUITE_P(All, DeviceStateRefuses, ::testing::ValuesIn(kHostile),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

TEST(DeviceState, RefusesEveryTruncatedDeviceSection) {
  SnapshotState s = ValidTestState(1);
  const std::vector<uint8_t> serial = EncodeSerial(*s.serial);
  const std::vector<uint8_t> slot = EncodeVirtioSlot(s.virtio[0]);
  for (size_t n = 0; n < serial.size(); ++n) {
    EXPECT_FALSE(DecodeSerial(std::span(serial).first(n))) << n;
  }
  for (size_t n = 0; n < slot.size(); ++n) {
    auto r = DecodeVirtioSlot(std::span(slot).first(n));
    ASSERT_FALSE(r) << n;
    EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
  }
  std::vector<uint8_t> longer = slot;
  longer.push_back(0);
  EXPECT_FALSE(DecodeVirtioSlot(longer));
}

TEST(DeviceState, RefusesAFlagThatIsNotZeroOrOne) {
  std::vector<uint8_t> serial = EncodeSerial(*ValidTestState(1).serial);
  serial[6] = 2;  // fifo_enabled, after the six registers
  auto r = DecodeSerial(serial);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("FIFO enable is 2"), std::string::npos) << r.error().message;
}

TEST(DeviceState, RefusesAHugeReceiveCountWithoutReadingIt) {
  ByteWriter w;
  for (int i = 0; i < 8; ++i) w.U8(0);
  w.U32(0xffffffff);
  auto r = DecodeSerial(w.bytes());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("4294967295 received bytes"), std::string::npos);
}

// A temporary 64-sector disk image, removed at the end.
class TempImage {
 public:
  TempImage() {
    char name[] = "/tmp/uvm_devstate_test_XXXXXX";
    int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    path_ = name;
    EXPECT_EQ(::ftruncate(fd, 64 * block::kSectorSize), 0);
    ::close(fd);
  }
  ~TempImage() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A block device behind a transport, driven by the fake driver's queue `drv`.
struct BlockSlot {
  BlockSlot(const TempImage& image, const GuestMemory& mem) {
    auto disk = block::Disk::Open({image.path(), false});
    EXPECT_TRUE(disk) << disk.error().message;
    auto d = block::BlockDevice::Create(std::move(*disk), block::EngineKind::kSync);
    EXPECT_TRUE(d) << d.error().message;
    dev = *d;
    transport = std::make_unique<virtio::MmioTransport>(mem, dev, [] {});
  }
  std::shared_ptr<block::BlockDevice> dev;
  std::unique_ptr<virtio::MmioTransport> transport;  // last: destroyed first
};

class RestoreDevicesTest : public ::testing::Test {
 protected:
  // One request through `slot`: a sector-sized write (data given) or read; returns the status
  // byte and, for a read, fills `data`.
  uint8_t Do(BlockSlot& slot, uint32_t type, std::vector<uint8_t>& data) {
    block::BlockRequestHeader hdr{type, 0, 3};
    uint64_t h = drv_.Alloc(sizeof hdr), d = drv_.Alloc(512), st = drv_.Alloc(1);
    drv_.WriteBytes(h, std::span(reinterpret_cast<const uint8_t*>(&hdr), sizeof hdr));
    if (type == block::kBlkTOut) drv_.WriteBytes(d, data);
    drv_.Post({{h, sizeof hdr, false}, {d, 512, type == block::kBlkTIn}, {st, 1, true}});
    virtio::testing::MmioWrite32(*slot.transport, virtio::mmio::kQueueNotify, 0);
    for (int i = 0; i < 500; ++i) {
      if (drv_.PopUsed()) {
        if (type == block::kBlkTIn) data = drv_.ReadBytes(d, 512);
        return drv_.ReadBytes(st, 1)[0];
      }
      pollfd p{slot.dev->io_event_fd(), POLLIN, 0};
      ::poll(&p, 1, 10);
      slot.dev->ProcessIoCompletions();
    }
    ADD_FAILURE() << "no reply";
    return 0xff;
  }
  // Initializes `old_`, writes a sector through it and returns the parsed state file.
  SnapshotState SaveUsed() {
    std::array<FakeDriver*, 1> qs = {&drv_};
    uint64_t f = block::BlockFeatures(false) | virtio::Bit(virtio::kFeatureVersion1);
    EXPECT_TRUE(virtio::testing::InitMmioDevice(*old_.transport, f, qs) & virtio::kStatusDriverOk);
    EXPECT_EQ(Do(old_, block::kBlkTOut, written_), block::kBlkSOk);
    SnapshotState s = ValidTestState(1);
    s.virtio = {{0, old_.transport->SaveState()}};
    auto parsed = ParseState(SerializeState(s));
    EXPECT_TRUE(parsed) << parsed.error().message;
    return parsed ? *parsed : s;
  }
  std::string RestoreError(const SnapshotState& s) {
    std::array<virtio::MmioTransport*, 1> slots = {fresh_.transport.get()};
    auto r = RestoreDevices(s.serial, s.virtio, &serial_, slots);
    return r ? "" : r.error().message;
  }

  TempImage image_;
  FakeRam ram_{1 << 20};
  FakeDriver drv_{ram_.mem(), 16, 0x1000, 0x10000};
  std::vector<uint8_t> written_ = std::vector<uint8_t>(512, 0x5a);
  BlockSlot old_{image_, ram_.mem()};
  BlockSlot fresh_{image_, ram_.mem()};
  devices::Serial serial_{[](std::span<const uint8_t>) {}, [] {}};
};

TEST_F(RestoreDevicesTest, RestoredBlockDeviceKeepsAnsweringTheDriver) {
  SnapshotState s = SaveUsed();
  ASSERT_EQ(RestoreError(s), "");
  EXPECT_EQ(fresh_.transport->SaveState(), s.virtio[0].transport);
  EXPECT_EQ(serial_.SaveState(), *s.serial);
  std::vector<uint8_t> read;
  EXPECT_EQ(Do(fresh_, block::kBlkTIn, read), block::kBlkSOk);
  EXPECT_EQ(read, written_);
  EXPECT_EQ(drv_.UsedIdx(), 2);  // the used ring continued where the saved device left it
}

TEST_F(RestoreDevicesTest, RefusesADifferentLayoutBeforeTouchingAnyDevice) {
  SnapshotState s = SaveUsed();
  const virtio::MmioTransportState untouched = fresh_.transport->SaveState();
  const devices::SerialState serial_before = serial_.SaveState();

  SnapshotState two = s;
  two.virtio.push_back(two.virtio[0]);
  two.virtio[1].slot = 1;
  EXPECT_NE(RestoreError(two).find("2 virtio devices, this VM has 1"), std::string::npos);

  SnapshotState vsock = s;
  vsock.virtio[0].transport.device_type = virtio::kDeviceIdVsock;
  EXPECT_NE(RestoreError(vsock).find("snapshot has device type 19, this VM has 2"),
            std::string::npos);

  SnapshotState no_serial = s;
  no_serial.serial.reset();
  EXPECT_NE(RestoreError(no_serial).find("no serial port state"), std::string::npos);

  EXPECT_EQ(fresh_.transport->SaveState(), untouched);
  EXPECT_EQ(serial_.SaveState(), serial_before);
}

TEST_F(RestoreDevicesTest, RefusesWhatOnlyTheDeviceOrGuestRamCanRuleOut) {
  SnapshotState s = SaveUsed();
  SnapshotState unoffered = s;
  auto& t = unoffered.virtio[0].transport;
  t.driver_features = t.negotiated = t.negotiated | virtio::Bit(27);
  EXPECT_NE(RestoreError(unoffered).find("virtio slot 0: virtio-mmio state: negotiated features"),
            std::string::npos)
      << RestoreError(unoffered);

  SnapshotState outside = s;
  outside.virtio[0].transport.queues[0].used_addr = 2 << 20;
  EXPECT_NE(RestoreError(outside).find("outside guest RAM"), std::string::npos);

  SnapshotState smaller = s;
  smaller.virtio[0].transport.queues[0].max_size = 128;
  smaller.virtio[0].transport.queues[0].size = 16;
  EXPECT_NE(RestoreError(smaller).find("maximum size differs"), std::string::npos);
}

}  // namespace
}  // namespace uvm::vmm::snapshot
