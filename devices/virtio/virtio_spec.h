// Constants from the virtio 1.2 specification (OASIS) that the transport and queues share. Only
// what uvm implements is listed: split virtqueues (2.7) over virtio-mmio version 2 (4.2).
#pragma once

#include <bit>
#include <cstdint>

namespace uvm::devices::virtio {

// The rings are little-endian in virtio 1.x (1.4 "Structure Specifications"); uvm runs on x86-64
// only, so guest values are used as they are loaded.
static_assert(std::endian::native == std::endian::little, "virtio rings are little-endian");

// 2.1 "Device Status Field".
inline constexpr uint32_t kStatusAcknowledge = 1;
inline constexpr uint32_t kStatusDriver = 2;
inline constexpr uint32_t kStatusDriverOk = 4;
inline constexpr uint32_t kStatusFeaturesOk = 8;
inline constexpr uint32_t kStatusNeedsReset = 64;
inline constexpr uint32_t kStatusFailed = 128;

// 6 "Reserved Feature Bits" (bit numbers; use Bit() for masks).
inline constexpr unsigned kFeatureIndirectDesc = 28;
inline constexpr unsigned kFeatureEventIdx = 29;
inline constexpr unsigned kFeatureVersion1 = 32;
inline constexpr unsigned kFeatureAccessPlatform = 33;
inline constexpr unsigned kFeatureRingPacked = 34;
inline constexpr uint64_t Bit(unsigned n) { return uint64_t{1} << n; }
// Bits 24..40 (and 50..127) are transport/ring features; a device may only ask for those the
// transport implements. Everything else in 0..23 and 41..49 is device-type specific.
inline constexpr uint64_t kTransportFeatureMask =
    ((uint64_t{1} << 41) - 1) & ~((uint64_t{1} << 24) - 1);

// 2.7.5 "The Virtqueue Descriptor Table".
inline constexpr uint16_t kDescFNext = 1;
inline constexpr uint16_t kDescFWrite = 2;
inline constexpr uint16_t kDescFIndirect = 4;
inline constexpr uint64_t kDescSize = 16;
// 2.7.6 / 2.7.8 ring flags.
inline constexpr uint16_t kAvailFNoInterrupt = 1;
inline constexpr uint16_t kUsedFNoNotify = 1;

// 2.7 "Split Virtqueues": alignment of the three parts.
inline constexpr uint64_t kDescAlign = 16;
inline constexpr uint64_t kAvailAlign = 2;
inline constexpr uint64_t kUsedAlign = 4;
// 2.7: the queue size is at most 32768 and, for split rings, a power of two.
inline constexpr uint16_t kMaxQueueSize = 32768;

inline constexpr uint64_t DescTableBytes(uint16_t size) { return kDescSize * size; }
// flags, idx, ring[size], used_event: always laid out (Linux allocates it with or without
// EVENT_IDX), so it is validated as part of the ring.
inline constexpr uint64_t AvailRingBytes(uint16_t size) { return 6 + 2ull * size; }
// flags, idx, ring[size] of {u32 id, u32 len}, avail_event.
inline constexpr uint64_t UsedRingBytes(uint16_t size) { return 6 + 8ull * size; }

// 5 "Device Types": the ids uvm uses.
inline constexpr uint32_t kDeviceIdNet = 1;
inline constexpr uint32_t kDeviceIdBlock = 2;
inline constexpr uint32_t kDeviceIdVsock = 19;
inline constexpr uint32_t kDeviceIdFs = 26;

// 4.2.2 "MMIO Device Register Layout" (version 2).
namespace mmio {
inline constexpr uint64_t kMagicValue = 0x000;
inline constexpr uint64_t kVersion = 0x004;
inline constexpr uint64_t kDeviceId = 0x008;
inline constexpr uint64_t kVendorId = 0x00c;
inline constexpr uint64_t kDeviceFeatures = 0x010;
inline constexpr uint64_t kDeviceFeaturesSel = 0x014;
inline constexpr uint64_t kDriverFeatures = 0x020;
inline constexpr uint64_t kDriverFeaturesSel = 0x024;
inline constexpr uint64_t kQueueSel = 0x030;
inline constexpr uint64_t kQueueNumMax = 0x034;
inline constexpr uint64_t kQueueNum = 0x038;
inline constexpr uint64_t kQueueReady = 0x044;
inline constexpr uint64_t kQueueNotify = 0x050;
inline constexpr uint64_t kInterruptStatus = 0x060;
inline constexpr uint64_t kInterruptAck = 0x064;
inline constexpr uint64_t kStatus = 0x070;
inline constexpr uint64_t kQueueDescLow = 0x080;
inline constexpr uint64_t kQueueDescHigh = 0x084;
inline constexpr uint64_t kQueueDriverLow = 0x090;
inline constexpr uint64_t kQueueDriverHigh = 0x094;
inline constexpr uint64_t kQueueDeviceLow = 0x0a0;
inline constexpr uint64_t kQueueDeviceHigh = 0x0a4;
inline constexpr uint64_t kConfigGeneration = 0x0fc;
inline constexpr uint64_t kConfig = 0x100;
inline constexpr uint64_t kWindowSize = 0x1000;  // what virtio_mmio.device=4K@... maps

inline constexpr uint32_t kMagic = 0x74726976;   // "virt" read as a little-endian u32
inline constexpr uint32_t kVersion2 = 2;         // the non-legacy interface
inline constexpr uint32_t kVendor = 0x554d5655;  // "UVMU": any value; Linux does not check it

// InterruptStatus bits (4.2.2).
inline constexpr uint32_t kIntUsedBuffer = 1;
inline constexpr uint32_t kIntConfigChange = 2;
}  // namespace mmio

}  // namespace uvm::devices::virtio
