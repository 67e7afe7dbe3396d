// Loads a Linux x86-64 kernel into guest memory, either an uncompressed ELF vmlinux or a bzImage
// booted through the 64-bit boot protocol (Linux Documentation/x86/boot.rst, "64-bit Boot
// Protocol"). The kernel file is untrusted input: every offset and size in it is checked against
// the file before it is read and against guest RAM before anything is written.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "base/guest_memory.h"
#include "base/result.h"
#include "boot/bootparam.h"

namespace uvm::boot {

struct LoadedKernel {
  uint64_t entry;        // guest-physical 64-bit entry point
  uint64_t image_start;  // lowest guest-physical byte the kernel occupies
  // One past the highest byte the kernel occupies. For a bzImage this covers the area it
  // decompresses into (runtime start + init_size), so the initrd is not placed there.
  uint64_t image_end;
  bool is_bzimage;
  SetupHeader header;  // bzImage: the file's setup header (boot_params starts from it); ELF: zeroed
};

// bzImage's 64-bit entry point is this far into the protected-mode code (boot.rst).
inline constexpr uint64_t kBzImage64BitEntryOffset = 0x200;
// Oldest boot protocol uvm accepts: 2.12 introduced xloadflags, which is how a bzImage says it
// has the 64-bit entry point.
inline constexpr uint16_t kMinBootProtocol = 0x020c;

// Where an ELF segment's file bytes go: guest [gpa, gpa+filesz) gets file [offset, offset+filesz),
// and [gpa+filesz, gpa+memsz) must read as zero. Both ranges were validated before the call.
struct ElfSegmentPlacement {
  uint64_t offset, filesz, gpa, memsz;
};
// Lets the VMM place a validated segment itself (e.g. map the file's pages copy-on-write instead
// of copying them). Returns false to have the loader copy the segment as usual.
using SegmentPlacer = std::function<bool(const ElfSegmentPlacement&)>;

// Detects the format (ELF magic at offset 0, or "HdrS" at 0x202) and loads the kernel.
Result<LoadedKernel> LoadKernel(const GuestMemory& mem, std::span<const uint8_t> file,
                                const SegmentPlacer& placer = {});

// An ELF64 x86-64 executable (vmlinux): each PT_LOAD segment is copied to its p_paddr and the
// part beyond p_filesz zero-filled; the entry point is translated to a physical address.
Result<LoadedKernel> LoadElfKernel(const GuestMemory& mem, std::span<const uint8_t> file,
                                   const SegmentPlacer& placer = {});

// A bzImage with boot protocol >= 2.12 and XLF_KERNEL_64: the protected-mode part is copied to
// kHighMemStart (or to pref_address for a non-relocatable kernel); entry = load address + 0x200.
Result<LoadedKernel> LoadBzImage(const GuestMemory& mem, std::span<const uint8_t> file);

}  // namespace uvm::boot
