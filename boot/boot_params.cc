#include "boot/boot_params.h"

#include <algorithm>
#include <string>

#include "boot/format.h"
#include "boot/layout.h"

namespace uvm::boot {
namespace {

constexpr uint64_t kPageSize = 4096;
// An ELF vmlinux has no header to ask for initrd_addr_max (boot.rst); 64-bit bzImages declare
// 0x7fffffff, so the same limit is used for vmlinux.
constexpr uint64_t kElfInitrdAddrMax = 0x7fffffff;
// boot.rst, "Sample Boot Configuration": with LOADED_HIGH, setup's stack/heap ends at 0xe000 of
// the real-mode segment, and heap_end_ptr holds that offset minus 0x200. The 64-bit entry skips
// the setup code, but the field is obligatory for protocol 2.01+, so fill in the sample value.
constexpr uint16_t kHeapEndPtr = 0xe000 - 0x200;
// Boot loader id for a loader without an assigned one (boot.rst, type_of_loader).
constexpr uint8_t kLoaderUndefined = 0xff;
// The protocol version written into the header uvm makes up for an ELF vmlinux: 2.15.
constexpr uint16_t kElfProtocolVersion = 0x020f;

uint32_t Low32(uint64_t v) { return static_cast<uint32_t>(v); }
uint32_t High32(uint64_t v) { return static_cast<uint32_t>(v >> 32); }

}  // namespace

std::vector<E820Entry> BuildE820(const std::vector<RegionSpec>& ram) {
  std::vector<E820Entry> map;
  for (size_t i = 0; i < ram.size(); ++i) {
    const RegionSpec& r = ram[i];
    if (r.size == 0) continue;
    if (i == 0 && r.gpa == 0) {
      // Base memory stops where the MP table lives (the traditional EBDA spot); 0xa0000..1 MiB is
      // the legacy VGA/ROM hole on a PC, which Linux expects not to be RAM.
      map.push_back({0, std::min(r.size, kEbdaStart), kE820Ram});
      if (r.size > kHighMemStart) map.push_back({kHighMemStart, r.size - kHighMemStart, kE820Ram});
    } else {
      map.push_back({r.gpa, r.size, kE820Ram});
    }
  }
  return map;
}

Result<void> CheckCmdline(std::string_view cmdline) {
  if (cmdline.size() > kCmdlineMax - 1) {
    return Err("kernel command line is " + std::to_string(cmdline.size()) +
               " bytes; the limit is " + std::to_string(kCmdlineMax - 1));
  }
  if (cmdline.find('\0') != std::string_view::npos) {
    return Err("kernel command line contains a NUL byte");
  }
  return {};
}

Result<void> WriteCmdline(const GuestMemory& mem, std::string_view cmdline) {
  UVM_CHECK(CheckCmdline(cmdline));
  uint8_t* dst = mem.HostPtr(kCmdlineAddr, cmdline.size() + 1);
  if (!dst) return Err("kernel command line: guest RAM does not cover " + Hex(kCmdlineAddr));
  std::copy(cmdline.begin(), cmdline.end(), dst);
  dst[cmdline.size()] = 0;
  return {};
}

Result<InitrdPlacement> PlaceInitrd(const GuestMemory& mem, const LoadedKernel& kernel,
                                    std::span<const uint8_t> initrd) {
  if (initrd.empty()) return Err("initrd file is empty");
  if (mem.regions().empty()) return Err("initrd: guest has no RAM");
  const GuestRegion& low = mem.regions()[0];
  const uint64_t low_end = low.gpa + low.size;
  // initrd_addr_max names the highest byte the initrd may occupy, hence the + 1.
  const uint64_t addr_max = kernel.is_bzimage ? kernel.header.initrd_addr_max : kElfInitrdAddrMax;
  const uint64_t limit = addr_max + 1;
  const uint64_t top = std::min(low_end, limit);
  // Round the kernel's end up to a page; no overflow, image_end lies inside guest RAM.
  const uint64_t bottom = (std::max(kernel.image_end, low.gpa) + kPageSize - 1) & ~(kPageSize - 1);
  const uint64_t size = initrd.size();
  if (size > top || ((top - size) & ~(kPageSize - 1)) < bottom) {
    if (limit < low_end) {
      return Err("initrd (" + HumanSize(size) + ") does not fit between the kernel's end " +
                 Hex(bottom) + " and its initrd limit " + Hex(limit) + " — use a smaller initrd");
    }
    return Err("initrd (" + HumanSize(size) + ") does not fit in guest memory between " +
               Hex(bottom) + " and " + Hex(top) + " — raise --memory");
  }
  const uint64_t addr = (top - size) & ~(kPageSize - 1);
  UVM_CHECK(Context(mem.Write(addr, initrd), "initrd"));
  return InitrdPlacement{addr, size};
}

Result<void> WriteBootParams(const GuestMemory& mem, const LoadedKernel& kernel,
                             std::optional<InitrdPlacement> initrd, size_t cmdline_len,
                             const std::vector<E820Entry>& e820) {
  if (e820.size() > kE820MaxEntries) {
    return Err("memory map has " + std::to_string(e820.size()) + " entries; boot_params holds " +
               std::to_string(kE820MaxEntries));
  }
  if (cmdline_len > kCmdlineMax - 1) {
    return Err("kernel command line is " + std::to_string(cmdline_len) + " bytes; the limit is " +
               std::to_string(kCmdlineMax - 1));
  }

  // The 64-bit protocol: start from an all-zero boot_params and copy the kernel's setup header in.
  BootParams bp{};
  if (kernel.is_bzimage) {
    bp.hdr = kernel.header;
    // cmdline_size (2.06+) excludes the NUL; longer lines would be cut off by the kernel.
    const uint32_t kernel_max = bp.hdr.cmdline_size;
    if (kernel_max != 0 && cmdline_len > kernel_max) {
      return Err("kernel command line is " + std::to_string(cmdline_len) +
                 " bytes; this kernel accepts at most " + std::to_string(kernel_max));
    }
  } else {
    bp.hdr.boot_flag = kBootFlagMagic;
    bp.hdr.header = kHdrSMagic;
    bp.hdr.version = kElfProtocolVersion;
  }
  bp.hdr.type_of_loader = kLoaderUndefined;
  bp.hdr.loadflags |= kLoadedHigh | kCanUseHeap;
  bp.hdr.heap_end_ptr = kHeapEndPtr;
  // uvm passes no setup_data list; a value copied from the file would point at nothing we wrote.
  bp.hdr.setup_data = 0;

  bp.hdr.cmd_line_ptr = Low32(kCmdlineAddr);
  bp.ext_cmd_line_ptr = High32(kCmdlineAddr);
  if (initrd) {
    bp.hdr.ramdisk_image = Low32(initrd->addr);
    bp.hdr.ramdisk_size = Low32(initrd->size);
    bp.ext_ramdisk_image = High32(initrd->addr);
    bp.ext_ramdisk_size = High32(initrd->size);
  } else {
    bp.hdr.ramdisk_image = 0;
    bp.hdr.ramdisk_size = 0;
  }

  bp.e820_entries = static_cast<uint8_t>(e820.size());
  std::copy(e820.begin(), e820.end(), bp.e820_table);
  return Context(mem.WriteObj(kZeroPageAddr, bp), "writing boot_params");
}

}  // namespace uvm::boot
