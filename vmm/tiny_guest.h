// Tiny hand-written guests: a few bytes of x86-64 code run in long mode on a 2 MiB VM with no
// irqchip (so HLT exits to uvm). They run on any /dev/kvm, including hosts where a Linux guest
// cannot, and are how `uvm doctor` and the kvm test tier exercise the VMM.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "vmm/machine.h"

namespace uvm::vmm {

inline constexpr uint64_t kTinyGuestRam = 2ull << 20;
inline constexpr uint64_t kTinyCodeAddr = 0x10000;
inline constexpr uint64_t kTinyStackTop = 0x8000;

struct TinyGuestOptions {
  uint64_t ram = kTinyGuestRam;
  // With the in-kernel irqchip (snapshot tests: its state is part of a snapshot) HLT no longer
  // exits to uvm; such guests end with a port write instead.
  bool irqchip = false;
};

// A one-vCPU machine with `code` at kTinyCodeAddr, boot/'s GDT and identity page tables, and the
// vCPU about to execute the first byte in 64-bit mode at CPL0 with KVM's supported CPUID.
Result<std::unique_ptr<Machine>> CreateTinyGuest(std::span<const uint8_t> code,
                                                 const TinyGuestOptions& options = {});

}  // namespace uvm::vmm
