// One split virtqueue (virtio 1.2, 2.7), seen from the device side.
//
// The rings live in guest memory and the guest is hostile (ARCHITECTURE.md "The guest is hostile"):
// PopChain() is the security boundary between guest-controlled ring contents and device code. Every
// value it reads is checked before use; any violation is a driver bug that breaks the queue,
// reported as an Error that the transport turns into DEVICE_NEEDS_RESET (2.1.2). Devices only ever
// see a validated Chain.
//
// Rules enforced by the walker (each violation is an error, never a clamp):
// - rings: aligned (16/2/4, 2.7) and wholly inside one guest RAM region, checked by Enable();
// - avail idx: loaded with acquire ordering; at most `size` entries ahead of next_avail (2.7.6);
// - head and every next index < the size of the table they index (2.7.5);
// - at most `size` descriptors in the ring's table, at most kMaxIndirectEntries in an indirect
//   table: a longer walk is a loop (2.7.5.1);
// - indirect descriptors (2.7.5.3) only if VIRTIO_F_RING_INDIRECT_DESC was negotiated, never
//   nested, never combined with NEXT, table length a non-zero multiple of 16;
// - each buffer [addr, addr+len) inside one RAM region without wrap-around;
// - readable buffers before writable ones (2.7.4.2);
// - total chain length ≤ kMaxChainBytes, which fits the u32 `len` of a used element (2.7.5.1).
// Zero-length descriptors are tolerated (a driver may pass an empty buffer) but carry no buffer
// into the Chain; they still count as a hop and still obey the read-before-write order.
//
// Each descriptor is copied once before it is checked, so a guest rewriting the table while the
// device walks it cannot make a checked value differ from the used one.
//
// Thread-safety: none inside. A queue is used by one thread at a time: the transport configures
// it (vCPU thread, under its lock, before DRIVER_OK), then the device's event-loop thread owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "base/guest_memory.h"
#include "base/result.h"
#include "devices/virtio/chain.h"

namespace uvm::devices::virtio {

// Everything that describes the queue; plain data so snapshots can copy it.
struct QueueState {
  uint16_t size = 0;      // entries, as written by the driver (QueueNum)
  uint16_t max_size = 0;  // QueueNumMax, fixed by the device
  bool ready = false;
  uint64_t desc_addr = 0;
  uint64_t avail_addr = 0;  // "driver area"
  uint64_t used_addr = 0;   // "device area"
  uint16_t next_avail = 0;  // next avail ring entry the device will take
  uint16_t next_used = 0;   // next used ring entry the device will fill (= published used idx)
  bool event_idx = false;   // VIRTIO_F_RING_EVENT_IDX negotiated
  bool indirect = false;    // VIRTIO_F_RING_INDIRECT_DESC negotiated

  bool operator==(const QueueState&) const = default;
};

class Queue {
 public:
  // An indirect table may exceed the queue size (Linux does so for large requests), so it has its
  // own cap: 1024 entries (16 KiB), the limit QEMU applies too.
  static constexpr uint32_t kMaxIndirectEntries = 1024;
  // 2.7.5.1: a chain is less than 2^32 bytes in total, so its length fits a used element.
  static constexpr uint64_t kMaxChainBytes = 0xffffffffull;

  explicit Queue(uint16_t max_size);

  QueueState& state() { return s_; }
  const QueueState& state() const { return s_; }

  // Back to the reset state: not ready, size = max_size, addresses and indices zero.
  void Reset();

  // Checks the ring layout (size a power of two ≤ max_size, alignment, every ring inside guest
  // RAM) and marks the queue ready. On error the queue stays not ready.
  Result<void> Enable(const GuestMemory& mem);
  // The same checks without changing anything (for restoring snapshots).
  static Result<void> ValidateLayout(const QueueState& s, const GuestMemory& mem);

  // The next available chain: nullopt when the driver has published nothing new, an error when
  // the ring or the chain breaks a rule above (the queue must then not be used until reset).
  // With EVENT_IDX, also publishes avail_event = next_avail so the driver notifies again for the
  // next buffer, then re-checks the ring to close the race with a driver that just skipped its
  // notification.
  Result<std::optional<Chain>> PopChain(const GuestMemory& mem);
  // The same into a caller's Chain, which is overwritten (its contents are unspecified after
  // false or an error): true when a chain was popped. For the per-packet paths, where moving a
  // Chain through optional and Result layers cost more than walking it.
  Result<bool> PopChainInto(const GuestMemory& mem, Chain& out);

  // Gives back the last `heads.size()` chains PopChain() returned, `heads` in the order they were
  // popped, by moving next_avail back: a chain the device took but has not put in the used ring is
  // not consumed (2.7.13, 2.7.14), so its avail entries still stand and the next PopChain() (here
  // or in a device restored from a snapshot of this state) takes the same chains again. Only the
  // most recent pops can be given back, and the call checks that: no more than the device holds
  // (next_avail - next_used) and each head still at its avail slot (a driver may not rewrite an
  // entry before the chain is used). avail_event is left as it is: the device asked to be
  // notified past the newest entry it had seen, and still wants that. On error nothing changes.
  Result<void> Unpop(const GuestMemory& mem, std::span<const uint16_t> heads);

  // Returns a chain to the driver: writes the used element, then publishes used idx with release
  // ordering (2.7.8). `len` is the number of bytes written into the chain's writable buffers. The
  // rings were validated by Enable() and guest RAM never shrinks, so this cannot fail.
  void PushUsed(const GuestMemory& mem, uint16_t head, uint32_t len);
  // Several chains that the driver must see together (a mergeable net packet's buffers, 5.1.6.4):
  // every element is written first and used idx is published once, so a driver polling the ring
  // never finds only some of them.
  struct UsedElem {
    uint16_t head;
    uint32_t len;
  };
  void PushUsedMany(const GuestMemory& mem, std::span<const UsedElem> elems);

  // Whether the driver wants an interrupt for what was pushed since the last call that returned
  // true (2.7.7 / 2.7.10): without EVENT_IDX unless the driver set VIRTQ_AVAIL_F_NO_INTERRUPT;
  // with EVENT_IDX when used idx moved past used_event (Linux's vring_need_event()).
  // The driver's avail->idx as it is now (how many buffers it has ever made available, mod 2^16);
  // the queue must be enabled.
  uint16_t DriverAvailIdx(const GuestMemory& mem) const;
  // Asks the driver to notify the device when it next makes a buffer available, even with
  // buffers still pending (with EVENT_IDX, 2.7.10: avail_event = the driver's current idx).
  void RequestNotifyOnNextAvail(const GuestMemory& mem);
  bool NeedsInterrupt(const GuestMemory& mem);

  // Notification suppression (2.7.7 / 2.7.10), for devices that poll for a while. Disable: the
  // driver may skip notifications (VIRTQ_USED_F_NO_NOTIFY; with EVENT_IDX nothing to do, the
  // driver notifies only when passing avail_event). Enable: asks for notifications again and
  // returns true if buffers arrived meanwhile (the device must then pop them, no kick will come).
  void DisableNotifications(const GuestMemory& mem);
  bool EnableNotifications(const GuestMemory& mem);
  // EVENT_IDX: writes avail_event = next_avail ("notify me when you add the next buffer").
  void SetAvailEvent(const GuestMemory& mem);

 private:
  // `table` is the ring's descriptor table, already checked to lie inside guest RAM.
  Result<void> WalkChain(const GuestMemory& mem, const uint8_t* table, uint16_t head,
                         Chain& chain) const;
  uint8_t* AvailRing(const GuestMemory& mem) const;
  uint8_t* UsedRing(const GuestMemory& mem) const;

  QueueState s_;
  // Used idx at the last interrupt NeedsInterrupt() allowed; unknown after reset or restore, and
  // then an interrupt is sent (an extra interrupt is harmless, a missed one hangs the driver).
  std::optional<uint16_t> signalled_used_;
};

}  // namespace uvm::devices::virtio
