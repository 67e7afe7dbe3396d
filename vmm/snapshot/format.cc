#include "vmm/snapshot/format.h"

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "vmm/snapshot/codec.h"

namespace uvm::vmm::snapshot {
namespace {

bool IsKnown(uint32_t id) {
  switch (static_cast<SectionId>(id)) {
    case SectionId::kMachine:
    case SectionId::kClock:
    case SectionId::kIrqchip:
    case SectionId::kPit:
    case SectionId::kVcpu:
    case SectionId::kSerial:
    case SectionId::kVirtioMmio:
      return true;
  }
  return false;
}

std::string Hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

}  // namespace

uint32_t SectionVersion(SectionId) { return 1; }

const char* SectionName(SectionId id) {
  switch (id) {
    case SectionId::kMachine:
      return "machine";
    case SectionId::kClock:
      return "clock";
    case SectionId::kIrqchip:
      return "irqchip";
    case SectionId::kPit:
      return "pit";
    case SectionId::kVcpu:
      return "vcpu";
    case SectionId::kSerial:
      return "serial";
    case SectionId::kVirtioMmio:
      return "virtio-mmio";
  }
  return "unknown";
}

uint32_t Crc32(std::span<const uint8_t> bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib's length is a uInt; the state file is far below 4 GiB (kMaxStateBytes), chunk anyway.
  while (!bytes.empty()) {
    size_t n = std::min<size_t>(bytes.size(), 1u << 30);
    crc = crc32(crc, bytes.data(), static_cast<uInt>(n));
    bytes = bytes.subspan(n);
  }
  return static_cast<uint32_t>(crc);
}

std::vector<uint8_t> EncodeStateFile(const std::vector<OwnedSection>& sections) {
  ByteWriter w;
  w.Bytes(std::span(reinterpret_cast<const uint8_t*>(kMagic), sizeof kMagic));
  w.U32(kFormatVersion);
  w.U32(static_cast<uint32_t>(sections.size()));
  for (const OwnedSection& s : sections) {
    w.U32(static_cast<uint32_t>(s.id));
    w.U32(s.version);
    w.U64(s.payload.size());
    w.Bytes(s.payload);
  }
  w.U32(Crc32(w.bytes()));
  return w.Take();
}

Result<std::vector<Section>> DecodeStateFile(std::span<const uint8_t> file) {
  constexpr size_t kHeader = sizeof kMagic + 8;
  if (file.size() > kMaxStateBytes) return Err("state file is larger than any snapshot uvm writes");
  if (file.size() < kHeader + 4) return Err("state file is truncated (shorter than its header)");
  if (std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) {
    return Err("not a uvm snapshot state file (bad magic)");
  }
  ByteReader head(file.subspan(sizeof kMagic, 8), "state file header");
  UVM_TRY(uint32_t version, head.U32());
  if (version != kFormatVersion) {
    return Err("snapshot format version " + std::to_string(version) +
               " is not supported (uvm reads version " + std::to_string(kFormatVersion) + ")");
  }
  // The CRC covers the whole file before it, so a truncated file fails here (its last four bytes
  // are not the CRC of the rest) before any section is looked at.
  std::span<const uint8_t> body = file.first(file.size() - 4);
  ByteReader tail(file.last(4), "state file CRC");
  UVM_TRY(uint32_t stored_crc, tail.U32());
  if (Crc32(body) != stored_crc) {
    return Err("state file CRC mismatch: the file is corrupted or truncated");
  }
  UVM_TRY(uint32_t count, head.U32());
  if (count > kMaxSections) return Err("state file has " + std::to_string(count) + " sections");
  ByteReader r(body.subspan(kHeader), "state file");
  std::vector<Section> sections;
  sections.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    UVM_TRY(uint32_t id, r.U32());
    UVM_TRY(uint32_t sversion, r.U32());
    UVM_TRY(uint64_t len, r.U64());
    if (!IsKnown(id)) return Err("state file: unknown section id " + Hex(id));
    auto sid = static_cast<SectionId>(id);
    if (sversion != SectionVersion(sid)) {
      return Err(std::string("state file: ") + SectionName(sid) + " section version " +
                 std::to_string(sversion) + " is not supported");
    }
    if (len > r.remaining()) {
      return Err(std::string("state file: ") + SectionName(sid) + " section overruns the file");
    }
    UVM_TRY(auto payload, r.Bytes(static_cast<size_t>(len)));
    if (sid != SectionId::kVcpu && sid != SectionId::kVirtioMmio) {
      for (const Section& s : sections) {
        if (s.id == sid) {
          return Err(std::string("state file: repeated ") + SectionName(sid) + " section");
        }
      }
    }
    sections.push_back({sid, sversion, payload});
  }
  UVM_CHECK(r.ExpectEnd());
  return sections;
}

}  // namespace uvm::vmm::snapshot
