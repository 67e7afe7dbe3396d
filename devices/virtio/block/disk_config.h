// virtio-blk constants, configuration space and offered features (virtio 1.2, 5.2).
//
// The configuration space is read by the driver through the transport; its fields are
// little-endian (virtio 1.x, 2.5.1 "Driver Requirements: Device Configuration Space"). uvm only
// runs on x86-64, so a packed struct of native integers is the wire layout; the static_asserts
// pin every offset to the one in the spec (and in Linux's include/uapi/linux/virtio_blk.h).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

namespace uvm::devices::virtio::block {

static_assert(std::endian::native == std::endian::little, "config space is little-endian");

// 5.2.6: sectors are always 512 bytes, whatever blk_size says.
inline constexpr uint64_t kSectorSize = 512;
inline constexpr uint32_t kSectorShift = 9;
// The largest number of sectors whose byte offsets fit in off_t: every byte offset the device
// computes, end of transfer included, stays below 2^63 and cannot overflow.
inline constexpr uint64_t kMaxSectors = 0x7fffffffffffffffull >> kSectorShift;
// 5.2.6: the GET_ID reply is a 20-byte string, zero-padded, not necessarily NUL-terminated.
inline constexpr size_t kBlockIdBytes = 20;

// Feature bits (5.2.3).
inline constexpr uint32_t kBlkFSizeMax = 1;
inline constexpr uint32_t kBlkFSegMax = 2;
inline constexpr uint32_t kBlkFRo = 5;
inline constexpr uint32_t kBlkFBlkSize = 6;
inline constexpr uint32_t kBlkFFlush = 9;

// Request types (5.2.6).
inline constexpr uint32_t kBlkTIn = 0;
inline constexpr uint32_t kBlkTOut = 1;
inline constexpr uint32_t kBlkTFlush = 4;
inline constexpr uint32_t kBlkTGetId = 8;

// Status values, the last byte the device writes (5.2.6).
inline constexpr uint8_t kBlkSOk = 0;
inline constexpr uint8_t kBlkSIoErr = 1;
inline constexpr uint8_t kBlkSUnsupp = 2;

// Largest single data buffer we tell the driver to use (size_max). Linux otherwise derives it
// from the DMA limit; 1 MiB keeps one host iovec per guest segment modest and is far above what
// the guest's page-granular segments reach in practice.
inline constexpr uint32_t kSizeMax = 1u << 20;

// struct virtio_blk_config (5.2.4), up to secure_erase_sector_alignment: what Linux 6.1 knows.
struct __attribute__((packed)) VirtioBlkConfig {
  uint64_t capacity;  // in 512-byte sectors
  uint32_t size_max;
  uint32_t seg_max;
  uint16_t geometry_cylinders;
  uint8_t geometry_heads;
  uint8_t geometry_sectors;
  uint32_t blk_size;
  uint8_t physical_block_exp;
  uint8_t alignment_offset;
  uint16_t min_io_size;
  uint32_t opt_io_size;
  uint8_t writeback;
  uint8_t unused0;
  uint16_t num_queues;
  uint32_t max_discard_sectors;
  uint32_t max_discard_seg;
  uint32_t discard_sector_alignment;
  uint32_t max_write_zeroes_sectors;
  uint32_t max_write_zeroes_seg;
  uint8_t write_zeroes_may_unmap;
  uint8_t unused1[3];
  uint32_t max_secure_erase_sectors;
  uint32_t max_secure_erase_seg;
  uint32_t secure_erase_sector_alignment;
};
static_assert(sizeof(VirtioBlkConfig) == 72);
static_assert(offsetof(VirtioBlkConfig, capacity) == 0);
static_assert(offsetof(VirtioBlkConfig, size_max) == 8);
static_assert(offsetof(VirtioBlkConfig, seg_max) == 12);
static_assert(offsetof(VirtioBlkConfig, geometry_cylinders) == 16);
static_assert(offsetof(VirtioBlkConfig, blk_size) == 20);
static_assert(offsetof(VirtioBlkConfig, physical_block_exp) == 24);
static_assert(offsetof(VirtioBlkConfig, opt_io_size) == 28);
static_assert(offsetof(VirtioBlkConfig, writeback) == 32);
static_assert(offsetof(VirtioBlkConfig, num_queues) == 34);
static_assert(offsetof(VirtioBlkConfig, max_discard_sectors) == 36);
static_assert(offsetof(VirtioBlkConfig, max_write_zeroes_sectors) == 48);
static_assert(offsetof(VirtioBlkConfig, write_zeroes_may_unmap) == 56);
static_assert(offsetof(VirtioBlkConfig, max_secure_erase_sectors) == 60);
static_assert(offsetof(VirtioBlkConfig, secure_erase_sector_alignment) == 68);

// The device-type features offered (5.2.3); the transport adds VERSION_1. No DISCARD/WRITE_ZEROES
// yet, so those request types answer UNSUPP. RO is offered for a read-only disk so the guest marks
// it read-only itself (Linux: set_disk_ro); writes that come anyway get IOERR (5.2.6.2).
inline constexpr uint64_t BlockFeatures(bool read_only) {
  uint64_t f = (1ull << kBlkFSizeMax) | (1ull << kBlkFSegMax) | (1ull << kBlkFBlkSize) |
               (1ull << kBlkFFlush);
  if (read_only) f |= 1ull << kBlkFRo;
  return f;
}

// The configuration for a disk of `capacity_sectors` on a queue of `queue_size` descriptors.
// seg_max counts data segments only; a request also needs a header and a status descriptor, so
// without indirect descriptors at most queue_size - 2 fit (Linux clamps to the same bound).
inline VirtioBlkConfig MakeBlockConfig(uint64_t capacity_sectors, uint16_t queue_size) {
  VirtioBlkConfig c{};
  c.capacity = capacity_sectors;
  c.size_max = kSizeMax;
  c.seg_max = std::max<uint32_t>(1, queue_size > 2 ? queue_size - 2u : 1u);
  c.blk_size = kSectorSize;
  c.num_queues = 1;
  return c;
}

// The configuration space as bytes, for VirtioDevice::ReadConfig via ReadConfigBytes()
// (devices/virtio/device.h), which bounds the guest-chosen offset.
inline std::span<const uint8_t> ConfigBytes(const VirtioBlkConfig& config) {
  return {reinterpret_cast<const uint8_t*>(&config), sizeof(config)};
}

}  // namespace uvm::devices::virtio::block
