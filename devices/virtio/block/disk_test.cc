#include "devices/virtio/block/disk.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "devices/virtio/block/disk_config.h"

namespace uvm::devices::virtio::block {
namespace {

std::string MakeFile(off_t size) {
  char name[] = "/tmp/uvm_disk_test_XXXXXX";
  int fd = ::mkstemp(name);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::ftruncate(fd, size), 0);
  ::close(fd);
  return name;
}

std::string IdString(const std::array<uint8_t, kBlockIdBytes>& id) {
  return std::string(reinterpret_cast<const char*>(id.data()),
                     strnlen(reinterpret_cast<const char*>(id.data()), id.size()));
}

TEST(DiskTest, OpensReadWriteWithCapacityRoundedDown) {
  const std::string path = MakeFile(8 * 512 + 100);
  auto disk = Disk::Open({path, false});
  ASSERT_TRUE(disk) << disk.error().message;
  EXPECT_EQ(disk->capacity_sectors(), 8u);
  EXPECT_FALSE(disk->read_only());
  EXPECT_EQ(disk->geometry().capacity_sectors, 8u);
  EXPECT_EQ(::pwrite(disk->fd(), "x", 1, 0), 1);
  EXPECT_TRUE(::fcntl(disk->fd(), F_GETFD) & FD_CLOEXEC);
  EXPECT_EQ(IdString(disk->id()).rfind("uvm-", 0), 0u);
  ::unlink(path.c_str());
}

// A snapshot template boots with an empty placeholder in place of a container's disk.
TEST(DiskTest, EmptyFileOpensWithCapacityZero) {
  const std::string path = MakeFile(0);
  auto disk = Disk::Open({path, false});
  ASSERT_TRUE(disk) << disk.error().message;
  EXPECT_EQ(disk->capacity_sectors(), 0u);
  ::unlink(path.c_str());
}

TEST(DiskTest, ReadOnlyDiskCannotBeWritten) {
  const std::string path = MakeFile(4096);
  auto disk = Disk::Open({path, true});
  ASSERT_TRUE(disk) << disk.error().message;
  EXPECT_TRUE(disk->read_only());
  EXPECT_TRUE(disk->geometry().read_only);
  EXPECT_LT(::pwrite(disk->fd(), "x", 1, 0), 0);
  ::unlink(path.c_str());
}

TEST(DiskTest, MissingFileAndDirectoryGiveClearErrors) {
  auto missing = Disk::Open({"/nonexistent/uvm/disk.img", false});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/uvm/disk.img"), std::string::npos);
  EXPECT_NE(missing.error().message.find("No such file"), std::string::npos);
  auto dir = Disk::Open({"/tmp", true});
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find("directory"), std::string::npos) << dir.error().message;
  auto dir_rw = Disk::Open({"/tmp", false});
  ASSERT_FALSE(dir_rw);
  EXPECT_NE(dir_rw.error().message.find("directory"), std::string::npos);
}

TEST(DiskTest, DistinctFilesHaveDistinctIds) {
  const std::string a = MakeFile(512), b = MakeFile(512);
  auto da = Disk::Open({a, true});
  auto db = Disk::Open({b, true});
  auto da2 = Disk::Open({a, false});
  ASSERT_TRUE(da && db && da2);
  EXPECT_NE(da->id(), db->id());
  EXPECT_EQ(da->id(), da2->id());
  ::unlink(a.c_str());
  ::unlink(b.c_str());
}

TEST(DiskIdTest, ReadableWhenItFitsHashedOtherwise) {
  EXPECT_EQ(IdString(MakeDiskId(0x803, 0x1234)), "uvm-803-1234");
  const std::string big = IdString(MakeDiskId(0xfd00, 0x123456789abcull));
  EXPECT_EQ(big.size(), kBlockIdBytes);
  EXPECT_EQ(big.rfind("uvm-", 0), 0u);
  EXPECT_NE(IdString(MakeDiskId(0xfd00, 0x123456789abdull)), big);
}

TEST(BlockConfigTest, FieldsAndFeatures) {
  VirtioBlkConfig c = MakeBlockConfig(1000, 256);
  EXPECT_EQ(c.capacity, 1000u);
  EXPECT_EQ(c.seg_max, 254u);
  EXPECT_EQ(c.blk_size, 512u);
  EXPECT_EQ(c.size_max, kSizeMax);
  EXPECT_EQ(MakeBlockConfig(1, 1).seg_max, 1u);

  std::span<const uint8_t> bytes = ConfigBytes(c);
  ASSERT_EQ(bytes.size(), 72u);
  EXPECT_EQ(bytes[0], 1000 & 0xff);
  EXPECT_EQ(bytes[1], 1000 >> 8);
  EXPECT_EQ(bytes[20], 512 & 0xff);  // blk_size
  EXPECT_EQ(bytes[21], 512 >> 8);

  EXPECT_FALSE(BlockFeatures(false) & (1ull << kBlkFRo));
  EXPECT_TRUE(BlockFeatures(true) & (1ull << kBlkFRo));
  EXPECT_TRUE(BlockFeatures(false) & (1ull << kBlkFFlush));
  EXPECT_FALSE(BlockFeatures(false) & (1ull << 13));  // no DISCARD yet
}

}  // namespace
}  // namespace uvm::devices::virtio::block
