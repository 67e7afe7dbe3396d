// Guest physical memory: a set of RAM regions, each backed by one host mapping. Every access with a
// guest-controlled address goes through HostPtr()/Read()/Write(), which check that the whole range
// [gpa, gpa+len) lies inside one region (no wrap-around, no straddling the MMIO gap).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

#include "base/result.h"

namespace uvm {

struct RegionSpec {
  uint64_t gpa;
  uint64_t size;
};

struct GuestRegion {
  uint64_t gpa;
  uint64_t size;
  uint8_t* host;
};

class GuestMemory {
 public:
  // Anonymous, lazily populated private memory for the given regions (sorted, non-overlapping).
  static Result<GuestMemory> CreateAnonymous(const std::vector<RegionSpec>& specs);
  // Views caller-owned memory as guest RAM at gpa 0 (tests and fuzzers); nothing is unmapped.
  static GuestMemory View(uint8_t* host, uint64_t size);

  GuestMemory(GuestMemory&& o) noexcept;
  GuestMemory& operator=(GuestMemory&& o) noexcept;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  ~GuestMemory();

  const std::vector<GuestRegion>& regions() const { return regions_; }
  uint64_t total_size() const;

  // Host address of [gpa, gpa+len), or nullptr when any byte of it is not guest RAM. Inline: the
  // virtqueues call it several times per packet.
  uint8_t* HostPtr(uint64_t gpa, uint64_t len) const {
    for (const GuestRegion& r : regions_) {
      // Written so that no sum can overflow: gpa >= r.gpa, then compare offsets against size.
      if (gpa < r.gpa) continue;
      const uint64_t off = gpa - r.gpa;
      if (off >= r.size) continue;
      if (len > r.size - off) return nullptr;
      return r.host + off;
    }
    return nullptr;
  }
  bool Contains(uint64_t gpa, uint64_t len) const { return HostPtr(gpa, len) != nullptr; }

  // Replaces guest RAM [gpa, gpa+len) with a private (copy-on-write) mapping of the file's bytes
  // [offset, offset+len): the guest reads the page cache's pages until it writes one. gpa, len and
  // offset must be page-aligned and the range inside one region. Only before the VM runs.
  Result<void> MapFile(uint64_t gpa, uint64_t len, int fd, uint64_t offset) const;

  Result<void> Write(uint64_t gpa, std::span<const uint8_t> data) const;
  Result<void> Read(uint64_t gpa, std::span<uint8_t> out) const;

  template <class T>
  Result<void> WriteObj(uint64_t gpa, const T& obj) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return Write(gpa, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&obj), sizeof(T)));
  }
  template <class T>
  Result<T> ReadObj(uint64_t gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T obj;
    auto r = Read(gpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&obj), sizeof(T)));
    if (!r) return tl::unexpected<Error>(r.error());
    return obj;
  }

 private:
  GuestMemory() = default;
  void Unmap();

  std::vector<GuestRegion> regions_;
  bool owned_ = false;
};

}  // namespace uvm
