// The snapshot `state` file (ARCHITECTURE.md "Snapshot contract"):
//
//   magic "UVMSNAP\0" | u32 format version | u32 section count
//   section*: u32 id | u32 section version | u64 length | payload[length]
//   u32 crc32 (zlib) of every byte before it
//
// Each component owns one section id and its payload layout (vm_state.h, vcpu_state.h). This file
// only frames: it refuses a wrong magic or version, a bad CRC, a section that overruns the file,
// unknown ids or versions, repeated singleton sections (all but vCPU and virtio-mmio) and trailing
// bytes.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"

namespace uvm::vmm::snapshot {

inline constexpr char kMagic[8] = {'U', 'V', 'M', 'S', 'N', 'A', 'P', '\0'};
inline constexpr uint32_t kFormatVersion = 1;
// The largest state file accepted: a 16-vCPU VM is about 100 KiB; anything near this is hostile.
inline constexpr size_t kMaxStateBytes = 16u << 20;
inline constexpr uint32_t kMaxSections = 256;

// Section ids. Device sections have ids from 0x100 up. An id not listed here is unknown and
// refused, never skipped.
enum class SectionId : uint32_t {
  kMachine = 1,         // vCPU count, guest RAM layout (vm_state.h)
  kClock = 2,           // kvmclock (KVM_GET_CLOCK)
  kIrqchip = 3,         // PIC master, PIC slave, IOAPIC
  kPit = 4,             // i8254 (KVM_GET_PIT2)
  kVcpu = 16,           // one per vCPU, in index order
  kSerial = 0x100,      // the COM1 UART (device_state.h)
  kVirtioMmio = 0x101,  // one per virtio-mmio slot, in slot order (device_state.h)
};

struct Section {
  SectionId id;
  uint32_t version;
  std::span<const uint8_t> payload;  // points into the decoded buffer
};

struct OwnedSection {
  SectionId id;
  uint32_t version;
  std::vector<uint8_t> payload;
};

// The version each known section is written with and the only one read.
uint32_t SectionVersion(SectionId id);
const char* SectionName(SectionId id);

std::vector<uint8_t> EncodeStateFile(const std::vector<OwnedSection>& sections);

// Checks framing and CRC; the returned sections point into `file`.
Result<std::vector<Section>> DecodeStateFile(std::span<const uint8_t> file);

uint32_t Crc32(std::span<const uint8_t> bytes);

}  // namespace uvm::vmm::snapshot
