#include "devices/virtio/queue.h"

#include <atomic>
#include <bit>
#include <cstdio>
#include <cstring>
#include <string>

#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio {
namespace {

// Ring fields are shared with the guest's driver running on other CPUs. Ring addresses are
// aligned in guest-physical space (checked by Enable()); guest RAM is mapped page-aligned, so the
// host addresses are aligned too and the loads/stores below are single atomic accesses. Test
// views of unaligned buffers fall back to memcpy plus a fence, which orders the same way.
uint16_t Load16(const uint8_t* p, int order) {
  if ((reinterpret_cast<uintptr_t>(p) & 1) == 0) {
    return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), order);
  }
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  if (order != __ATOMIC_RELAXED) std::atomic_thread_fence(std::memory_order_acquire);
  return v;
}

void Store16(uint8_t* p, uint16_t v, int order) {
  if ((reinterpret_cast<uintptr_t>(p) & 1) == 0) {
    __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, order);
    return;
  }
  if (order != __ATOMIC_RELAXED) std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(p, &v, sizeof v);
}

// 2.7.10 / Linux vring_need_event(): true if event_idx lies in (old_idx, new_idx], all mod 2^16.
bool NeedEvent(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx) {
  return static_cast<uint16_t>(new_idx - event_idx - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == kDescSize);

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

Queue::Queue(uint16_t max_size) {
  s_.max_size = max_size;
  Reset();
}

void Queue::Reset() {
  uint16_t max = s_.max_size;
  s_ = QueueState{};
  s_.max_size = max;
  s_.size = max;
  signalled_used_.reset();
}

Result<void> Queue::ValidateLayout(const QueueState& s, const GuestMemory& mem) {
  if (s.size == 0 || s.size > s.max_size || s.size > kMaxQueueSize ||
      !std::has_single_bit(s.size)) {
    return Err("virtqueue size " + std::to_string(s.size) + " is not a power of two in 1.." +
               std::to_string(s.max_size));
  }
  if (s.desc_addr % kDescAlign || s.avail_addr % kAvailAlign || s.used_addr % kUsedAlign) {
    return Err("virtqueue rings misaligned (descriptors " + Hex(s.desc_addr) + ", driver area " +
               Hex(s.avail_addr) + ", device area " + Hex(s.used_addr) + ")");
  }
  if (!mem.Contains(s.desc_addr, DescTableBytes(s.size))) {
    return Err("virtqueue descriptor table at " + Hex(s.desc_addr) + " is outside guest RAM");
  }
  if (!mem.Contains(s.avail_addr, AvailRingBytes(s.size))) {
    return Err("virtqueue available ring at " + Hex(s.avail_addr) + " is outside guest RAM");
  }
  if (!mem.Contains(s.used_addr, UsedRingBytes(s.size))) {
    return Err("virtqueue used ring at " + Hex(s.used_addr) + " is outside guest RAM");
  }
  return {};
}

Result<void> Queue::Enable(const GuestMemory& mem) {
  UVM_CHECK(ValidateLayout(s_, mem));
  s_.ready = true;
  signalled_used_.reset();
  return {};
}

uint16_t Queue::DriverAvailIdx(const GuestMemory& mem) const {
  return Load16(AvailRing(mem) + 2, __ATOMIC_ACQUIRE);
}

uint8_t* Queue::AvailRing(const GuestMemory& mem) const {
  return mem.HostPtr(s_.avail_addr, AvailRingBytes(s_.size));
}

uint8_t* Queue::UsedRing(const GuestMemory& mem) const {
  return mem.HostPtr(s_.used_addr, UsedRingBytes(s_.size));
}

Result<std::optional<Chain>> Queue::PopChain(const GuestMemory& mem) {
  std::optional<Chain> chain(std::in_place);
  UVM_TRY(const bool popped, PopChainInto(mem, *chain));
  if (!popped) chain.reset();
  return chain;
}

Result<bool> Queue::PopChainInto(const GuestMemory& mem, Chain& out) {
  if (!s_.ready) return Err("virtqueue used before it was made ready");
  // Re-derived on every call (cheap) rather than cached: guest RAM is fixed for the VM's life, and
  // a state restored from a snapshot then needs nothing else.
  const uint8_t* avail = AvailRing(mem);
  const uint8_t* table = mem.HostPtr(s_.desc_addr, DescTableBytes(s_.size));
  if (!avail || !table || !UsedRing(mem)) return Err("virtqueue rings outside guest RAM");
  // Acquire: the ring entries and descriptors the driver wrote before bumping idx are visible
  // after this load (2.7.13.3: the driver writes them, a write barrier, then idx).
  uint16_t avail_idx = Load16(avail + 2, __ATOMIC_ACQUIRE);
  uint16_t pending = static_cast<uint16_t>(avail_idx - s_.next_avail);
  if (pending == 0 && s_.event_idx) {
    SetAvailEvent(mem);
    // Full barrier between publishing avail_event and re-reading idx (2.7.10): otherwise the
    // driver may have added a buffer, read the old avail_event and skipped its notification.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    avail_idx = Load16(avail + 2, __ATOMIC_ACQUIRE);
    pending = static_cast<uint16_t>(avail_idx - s_.next_avail);
  }
  if (pending == 0) return false;
  if (pending > s_.size) {
    return Err("virtqueue available idx " + std::to_string(avail_idx) + " is " +
               std::to_string(pending) + " entries ahead of the device, more than the queue size " +
               std::to_string(s_.size));
  }
  uint16_t slot = s_.next_avail & (s_.size - 1);
  uint16_t head = Load16(avail + 4 + 2 * slot, __ATOMIC_RELAXED);
  if (head >= s_.size) {
    return Err("virtqueue available ring entry " + std::to_string(slot) + " names descriptor " +
               std::to_string(head) + ", queue size is " + std::to_string(s_.size));
  }
  UVM_CHECK(WalkChain(mem, table, head, out));
  s_.next_avail++;
  // avail_event is published only when the ring is found empty (above), not after each pop:
  // while the device is still working through the ring, a stale avail_event tells the driver not
  // to notify for the buffers it adds meanwhile (2.7.10: it notifies only when the new idx passes
  // avail_event), and the device picks them up before it next finds the ring empty. This saves a
  // VM exit per buffer under load, as vhost does by disabling notifications while it works.
  return true;
}

Result<void> Queue::Unpop(const GuestMemory& mem, std::span<const uint16_t> heads) {
  if (heads.empty()) return {};
  if (!s_.ready) return Err("virtqueue: chains given back to a queue that is not ready");
  const uint8_t* avail = AvailRing(mem);
  if (!avail) return Err("virtqueue rings outside guest RAM");
  // Every chain popped is used exactly once, so next_avail - next_used is how many the device
  // holds; it cannot give back more than that.
  const uint16_t held = static_cast<uint16_t>(s_.next_avail - s_.next_used);
  if (heads.size() > held) {
    return Err("virtqueue: " + std::to_string(heads.size()) +
               " chains given back, the device holds " + std::to_string(held));
  }
  const uint16_t first = static_cast<uint16_t>(s_.next_avail - heads.size());
  for (size_t i = 0; i < heads.size(); ++i) {
    const uint16_t slot = static_cast<uint16_t>(first + i) & (s_.size - 1);
    const uint16_t head = Load16(avail + 4 + 2 * slot, __ATOMIC_RELAXED);
    if (head != heads[i]) {
      return Err("virtqueue: chain " + std::to_string(heads[i]) +
                 " given back is not the one popped from available ring entry " +
                 std::to_string(slot) + " (" + std::to_string(head) + ")");
    }
  }
  s_.next_avail = first;
  return {};
}

Result<void> Queue::WalkChain(const GuestMemory& mem, const uint8_t* table, uint16_t head,
                              Chain& chain) const {
  chain.head = head;
  chain.readable.clear();
  chain.writable.clear();
  uint32_t table_len = s_.size;
  bool in_indirect = false;
  uint32_t index = head;
  uint32_t hops = 0;
  uint64_t total = 0;
  for (;;) {
    if (index >= table_len) {
      return Err("virtqueue descriptor index " + std::to_string(index) +
                 " out of range (table of " + std::to_string(table_len) + ")");
    }
    // A table of n entries holds a chain of at most n descriptors; more means a loop (2.7.5.1).
    if (++hops > table_len) {
      return Err(std::string("virtqueue descriptor chain loops (") +
                 (in_indirect ? "indirect" : "ring") + " table of " + std::to_string(table_len) +
                 ")");
    }
    Desc d;
    std::memcpy(&d, table + kDescSize * index, sizeof d);  // one copy: the guest may rewrite it

    if (d.flags & kDescFIndirect) {
      // 2.7.5.3.1: only if negotiated, one level only, and never together with NEXT.
      if (!s_.indirect) return Err("virtqueue indirect descriptor without INDIRECT_DESC");
      if (in_indirect) return Err("virtqueue nested indirect descriptor");
      if (d.flags & kDescFNext) return Err("virtqueue indirect descriptor with NEXT set");
      if (d.len == 0 || d.len % kDescSize != 0 || d.len / kDescSize > kMaxIndirectEntries) {
        return Err("virtqueue indirect table length " + std::to_string(d.len) +
                   " is not a multiple of 16 in 16.." +
                   std::to_string(kMaxIndirectEntries * kDescSize));
      }
      table = mem.HostPtr(d.addr, d.len);
      if (!table) {
        return Err("virtqueue indirect table " + Hex(d.addr) + "+" + std::to_string(d.len) +
                   " is outside guest RAM");
      }
      // The WRITE flag of the descriptor naming the table is ignored (2.7.5.3.2); the table's
      // chain starts at its entry 0.
      table_len = d.len / kDescSize;
      in_indirect = true;
      index = 0;
      hops = 0;
      continue;
    }

    bool writable = d.flags & kDescFWrite;
    if (!writable && !chain.writable.empty()) {
      return Err("virtqueue chain has a device-readable buffer after a device-writable one");
    }
    if (d.len > 0) {
      uint8_t* host = mem.HostPtr(d.addr, d.len);  // rejects wrap-around and RAM holes too
      if (!host) {
        return Err("virtqueue buffer " + Hex(d.addr) + "+" + std::to_string(d.len) +
                   " is outside guest RAM");
      }
      total += d.len;
      if (total > kMaxChainBytes) return Err("virtqueue chain longer than 4 GiB");
      auto& part = writable ? chain.writable : chain.readable;
      part.push_back({d.addr, host, d.len});
    } else if (writable && chain.writable.empty()) {
      // An empty writable buffer still starts the writable part: a readable one may not follow.
      chain.writable.push_back({d.addr, nullptr, 0});
    }
    if (!(d.flags & kDescFNext)) break;
    index = d.next;
  }
  // Drop the zero-length placeholder that only recorded the ordering.
  if (!chain.writable.empty() && chain.writable.front().len == 0) {
    chain.writable.erase(chain.writable.begin());
  }
  return {};
}

void Queue::PushUsed(const GuestMemory& mem, uint16_t head, uint32_t len) {
  const UsedElem one{head, len};
  PushUsedMany(mem, std::span(&one, 1));
}

void Queue::PushUsedMany(const GuestMemory& mem, std::span<const UsedElem> elems) {
  uint8_t* used = UsedRing(mem);
  if (!s_.ready || !used || elems.empty()) return;  // cannot happen after Enable()
  for (const UsedElem& e : elems) {
    uint16_t slot = s_.next_used & (s_.size - 1);
    uint32_t elem[2] = {e.head, e.len};
    std::memcpy(used + 4 + 8 * slot, elem, sizeof elem);
    s_.next_used++;
  }
  // Release: the elements (and the data written into the buffers) are visible before the new idx.
  Store16(used + 2, s_.next_used, __ATOMIC_RELEASE);
}

bool Queue::NeedsInterrupt(const GuestMemory& mem) {
  const uint8_t* avail = AvailRing(mem);
  if (!s_.ready || !avail) return false;
  // Full barrier: the used idx store must be visible before the driver's flags/used_event are
  // read, or both sides may decide the other will act (2.7.10, Linux virtio_mb()).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (s_.event_idx) {
    uint16_t used_event = Load16(avail + 4 + 2 * s_.size, __ATOMIC_RELAXED);
    std::optional<uint16_t> old = signalled_used_;
    signalled_used_ = s_.next_used;
    if (!old) return true;
    return NeedEvent(used_event, s_.next_used, *old);
  }
  uint16_t flags = Load16(avail, __ATOMIC_RELAXED);
  return !(flags & kAvailFNoInterrupt);
}

void Queue::SetAvailEvent(const GuestMemory& mem) {
  uint8_t* used = UsedRing(mem);
  if (!s_.ready || !used || !s_.event_idx) return;
  Store16(used + 4 + 8 * s_.size, s_.next_avail, __ATOMIC_RELAXED);
}

void Queue::RequestNotifyOnNextAvail(const GuestMemory& mem) {
  uint8_t* used = UsedRing(mem);
  if (!s_.ready || !used) return;
  if (s_.event_idx) {
    Store16(used + 4 + 8 * s_.size, DriverAvailIdx(mem), __ATOMIC_RELAXED);
  } else {
    Store16(used, 0, __ATOMIC_RELAXED);
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

void Queue::DisableNotifications(const GuestMemory& mem) {
  uint8_t* used = UsedRing(mem);
  if (!s_.ready || !used || s_.event_idx) return;
  Store16(used, kUsedFNoNotify, __ATOMIC_RELAXED);
}

bool Queue::EnableNotifications(const GuestMemory& mem) {
  uint8_t* used = UsedRing(mem);
  const uint8_t* avail = AvailRing(mem);
  if (!s_.ready || !used || !avail) return false;
  if (s_.event_idx) {
    SetAvailEvent(mem);
  } else {
    Store16(used, 0, __ATOMIC_RELAXED);
  }
  // Same race as in PopChain(): publish, full barrier, then look for buffers added meanwhile.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return Load16(avail + 2, __ATOMIC_ACQUIRE) != s_.next_avail;
}

}  // namespace uvm::devices::virtio
