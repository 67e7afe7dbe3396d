// Everything the kernel reads at entry besides its own image: the e820 memory map, the command
// line, the initrd, and the boot_params "zero page" that points at all of them
// (Linux Documentation/x86/boot.rst and Documentation/x86/zero-page.rst).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/guest_memory.h"
#include "base/result.h"
#include "boot/bootparam.h"
#include "boot/kernel_loader.h"

namespace uvm::boot {

// The e820 map for guest RAM laid out as RamRegions() does: base memory up to the MP table/EBDA,
// then from 1 MiB to the end of the first region, then every further region. The legacy hole
// (0xa0000..1 MiB) and the MMIO gap get no entry: Linux treats unlisted ranges as not RAM.
std::vector<E820Entry> BuildE820(const std::vector<RegionSpec>& ram);

// The command line must fit kCmdlineMax bytes with its NUL and must not contain a NUL itself.
Result<void> CheckCmdline(std::string_view cmdline);

// Checks, then writes the command line NUL-terminated at kCmdlineAddr.
Result<void> WriteCmdline(const GuestMemory& mem, std::string_view cmdline);

struct InitrdPlacement {
  uint64_t addr;
  uint64_t size;
};

// Chooses where the initrd goes and copies it there: page-aligned, as high as possible in the
// first RAM region, ending at or below the kernel's initrd_addr_max (0x7fffffff for an ELF
// vmlinux) and starting above the kernel image (kernel.image_end).
Result<InitrdPlacement> PlaceInitrd(const GuestMemory& mem, const LoadedKernel& kernel,
                                    std::span<const uint8_t> initrd);

// Fills boot_params at kZeroPageAddr: the bzImage's own setup header (or a minimal one for an ELF
// vmlinux), loader id, command line pointer (kCmdlineAddr), initrd location and the e820 map.
Result<void> WriteBootParams(const GuestMemory& mem, const LoadedKernel& kernel,
                             std::optional<InitrdPlacement> initrd, size_t cmdline_len,
                             const std::vector<E820Entry>& e820);

}  // namespace uvm::boot
