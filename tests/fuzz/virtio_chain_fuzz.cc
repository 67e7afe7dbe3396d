// Fuzzes the split-virtqueue chain walker (devices/virtio/queue.h), the security boundary between
// guest-written rings and device code. Input: a 16-byte header choosing the queue state, then the
// contents of 64 KiB of guest RAM (rings, descriptors, indirect tables, all attacker-chosen).
// Every chain popped is read and written in full, so ASan flags any buffer that escapes guest RAM.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/guest_memory.h"
#include "devices/virtio/chain.h"
#include "devices/virtio/queue.h"

using uvm::GuestMemory;
using uvm::devices::virtio::Chain;
using uvm::devices::virtio::ChainReader;
using uvm::devices::virtio::ChainWriter;
using uvm::devices::virtio::Queue;

namespace {

constexpr size_t kRam = 64 * 1024;
constexpr size_t kHeader = 16;

uint16_t U16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kHeader) return 0;
  // Exactly kRam bytes on the heap: any access past guest RAM is an ASan report.
  auto* ram = static_cast<uint8_t*>(std::malloc(kRam));
  std::memset(ram, 0, kRam);
  std::memcpy(ram, data + kHeader, std::min(size - kHeader, kRam));
  GuestMemory mem = GuestMemory::View(ram, kRam);

  // Header: size (as given: the walker's validation decides), flags, indices, ring addresses in
  // units of 2 bytes so both aligned and misaligned rings come up.
  Queue q(static_cast<uint16_t>(1u << (data[0] % 16)));
  auto& s = q.state();
  s.size = U16(data + 1) % 0x8001;
  s.event_idx = data[3] & 1;
  s.indirect = data[3] & 2;
  s.next_avail = U16(data + 4);
  s.next_used = U16(data + 6);
  s.desc_addr = uint64_t{U16(data + 8)} * 2;
  s.avail_addr = uint64_t{U16(data + 10)} * 2;
  s.used_addr = uint64_t{U16(data + 12)} * 2;
  if (data[14] & 1) s.desc_addr |= uint64_t{data[15]} << 56;  // far outside RAM

  if (q.Enable(mem)) {
    std::vector<uint8_t> scratch;
    for (int i = 0; i < 64; ++i) {
      auto r = q.PopChain(mem);
      if (!r || !*r) break;
      const Chain& c = **r;
      ChainReader reader(c);
      scratch.resize(reader.remaining());
      reader.Read(scratch);
      ChainWriter writer(c);
      for (auto& span : writer.Take(c.writable_bytes()))
        std::memset(span.data(), 0xa5, span.size());
      q.PushUsed(mem, c.head, static_cast<uint32_t>(writer.written()));
      q.NeedsInterrupt(mem);
      if (i % 8 == 7) q.EnableNotifications(mem);
    }
  }
  std::free(ram);
  return 0;
}
