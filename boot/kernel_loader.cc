#include "boot/kernel_loader.h"

#include <elf.h>
#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "boot/format.h"
#include "boot/layout.h"

namespace uvm::boot {
namespace {

// x86-64 Linux links itself in the top 2 GiB of the address space (the "kernel text mapping").
constexpr uint64_t kKernelVirtualBase = 0xffffffff80000000ull;
// Where the "HdrS" signature sits in a bzImage (boot.rst, offset 0x202).
constexpr size_t kHdrSOffset = 0x202;
// boot.rst: for protocol 2.02 and earlier the initrd may not go above this.
constexpr uint32_t kLegacyInitrdAddrMax = 0x37ffffff;

bool HasElfMagic(std::span<const uint8_t> file) {
  return file.size() >= SELFMAG && std::memcmp(file.data(), ELFMAG, SELFMAG) == 0;
}

bool HasHdrS(std::span<const uint8_t> file) {
  if (file.size() < kHdrSOffset + sizeof(uint32_t)) return false;
  uint32_t magic;
  std::memcpy(&magic, file.data() + kHdrSOffset, sizeof magic);
  return magic == kHdrSMagic;
}

// A loadable piece of the kernel: file bytes [offset, offset+filesz) go to guest [gpa, gpa+memsz)
// and the rest of that range is zeroed. Validated against the file and guest RAM before any copy.
struct Segment {
  uint64_t offset;
  uint64_t filesz;
  uint64_t gpa;
  uint64_t memsz;
  uint64_t vaddr;
};

Result<void> CheckSegment(const GuestMemory& mem, std::span<const uint8_t> file, const Segment& s) {
  if (s.filesz > s.memsz) {
    return Err("kernel image: ELF segment at " + Hex(s.gpa) +
               " has more file bytes than memory bytes (p_filesz > p_memsz); the file is corrupt");
  }
  if (s.offset > file.size() || s.filesz > file.size() - s.offset) {
    return Err("kernel image: ELF segment at " + Hex(s.gpa) +
               " lies past the end of the file; the file is truncated or corrupt");
  }
  if (s.gpa < kHighMemStart) {
    return Err("kernel image: ELF segment at " + Hex(s.gpa) +
               " is below 1 MiB, where uvm keeps its boot data; not a Linux vmlinux?");
  }
  if (!mem.Contains(s.gpa, s.memsz)) {
    return Err("kernel image: ELF segment at " + Hex(s.gpa) + " (" + HumanSize(s.memsz) +
               ") is outside guest RAM (" + HumanSize(mem.total_size()) + ") — raise --memory");
  }
  return {};
}

void CopySegment(const GuestMemory& mem, std::span<const uint8_t> file, const Segment& s) {
  // CheckSegment() proved both ranges valid, so HostPtr cannot fail here.
  uint8_t* dst = mem.HostPtr(s.gpa, s.memsz);
  std::memcpy(dst, file.data() + s.offset, s.filesz);
  std::memset(dst + s.filesz, 0, s.memsz - s.filesz);
}

struct ElfDeleter {
  void operator()(Elf* e) const { elf_end(e); }
};

// vmlinux's e_entry is normally already physical (the linker script names the physical address
// of startup_64), but a kernel whose e_entry is a virtual address in the kernel text mapping is
// translated through the segment containing it.
Result<uint64_t> PhysicalEntry(uint64_t entry, const std::vector<Segment>& segs) {
  auto in = [](uint64_t a, uint64_t base, uint64_t size) { return a >= base && a - base < size; };
  if (entry < kKernelVirtualBase) {
    for (const Segment& s : segs) {
      if (in(entry, s.gpa, s.memsz)) return entry;
    }
  }
  for (const Segment& s : segs) {
    if (in(entry, s.vaddr, s.memsz)) return entry - s.vaddr + s.gpa;
  }
  return Err("kernel image: ELF entry point " + Hex(entry) +
             " is not inside any loadable segment; the file is corrupt");
}

}  // namespace

Result<LoadedKernel> LoadKernel(const GuestMemory& mem, std::span<const uint8_t> file,
                                const SegmentPlacer& placer) {
  if (HasElfMagic(file)) return LoadElfKernel(mem, file, placer);
  if (HasHdrS(file)) return LoadBzImage(mem, file);
  return Err("kernel image: not an ELF vmlinux or a bzImage");
}

Result<LoadedKernel> LoadElfKernel(const GuestMemory& mem, std::span<const uint8_t> file,
                                   const SegmentPlacer& placer) {
  if (!HasElfMagic(file)) return Err("kernel image: not an ELF file");
  // Check the identification bytes ourselves first, so the messages say what is wrong.
  if (file.size() < sizeof(Elf64_Ehdr)) return Err("kernel image: ELF header is truncated");
  if (file[EI_CLASS] != ELFCLASS64) {
    return Err("kernel image: not a 64-bit ELF; uvm boots x86-64 kernels only");
  }
  if (file[EI_DATA] != ELFDATA2LSB) return Err("kernel image: big-endian ELF is not x86-64");

  // elf_memory() takes a mutable buffer and may convert data in place, so libelf gets a private
  // copy, but only of the prefix it needs here: the ELF header and the program header table. The
  // segments are copied to guest RAM straight from the caller's bytes, so a multi-megabyte kernel
  // is never duplicated (that copy dominated uvm's start-up time).
  Elf64_Ehdr raw;
  std::memcpy(&raw, file.data(), sizeof raw);
  if (raw.e_phentsize != sizeof(Elf64_Phdr) || raw.e_phoff > file.size() ||
      raw.e_phnum > (file.size() - raw.e_phoff) / sizeof(Elf64_Phdr)) {
    return Err("kernel image: ELF program header table lies past the end of the file");
  }
  const size_t prefix =
      std::max<size_t>(sizeof(Elf64_Ehdr), raw.e_phoff + size_t{raw.e_phnum} * sizeof(Elf64_Phdr));
  if (elf_version(EV_CURRENT) == EV_NONE) return Err("libelf: version mismatch");
  std::vector<char> copy(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(prefix));
  std::unique_ptr<Elf, ElfDeleter> elf(elf_memory(copy.data(), copy.size()));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) {
    return Err(std::string("kernel image: unreadable ELF: ") + elf_errmsg(-1));
  }
  GElf_Ehdr eh;
  if (!gelf_getehdr(elf.get(), &eh)) return Err("kernel image: ELF header is unreadable");
  if (eh.e_machine != EM_X86_64) {
    return Err("kernel image: ELF is for machine " + std::to_string(eh.e_machine) +
               ", not x86-64 (62)");
  }
  if (eh.e_type != ET_EXEC) {
    return Err("kernel image: ELF is not an executable (ET_EXEC); pass vmlinux, not an object");
  }
  size_t phnum = 0;
  if (elf_getphdrnum(elf.get(), &phnum) != 0 || phnum == 0) {
    return Err("kernel image: ELF has no program header table");
  }
  // libelf checks this too; checked here as well so the bound does not rest on one library.
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > file.size() ||
      phnum > (file.size() - eh.e_phoff) / sizeof(Elf64_Phdr)) {
    return Err("kernel image: ELF program header table lies past the end of the file");
  }

  std::vector<Segment> segs;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf.get(), static_cast<int>(i), &ph)) {
      return Err("kernel image: ELF program header " + std::to_string(i) + " is unreadable");
    }
    if (ph.p_type != PT_LOAD) continue;
    Segment s{ph.p_offset, ph.p_filesz, ph.p_paddr, ph.p_memsz, ph.p_vaddr};
    if (s.memsz == 0 && s.filesz == 0) continue;
    UVM_CHECK(CheckSegment(mem, file, s));
    segs.push_back(s);
  }
  if (segs.empty()) return Err("kernel image: ELF has no loadable (PT_LOAD) segments");

  LoadedKernel k{};
  UVM_TRY(k.entry, PhysicalEntry(eh.e_entry, segs));
  k.image_start = UINT64_MAX;
  for (const Segment& s : segs) {
    if (!placer || !placer({s.offset, s.filesz, s.gpa, s.memsz})) CopySegment(mem, file, s);
    k.image_start = std::min(k.image_start, s.gpa);
    k.image_end = std::max(k.image_end, s.gpa + s.memsz);  // Contains() ruled out overflow
  }
  k.is_bzimage = false;
  return k;
}

Result<LoadedKernel> LoadBzImage(const GuestMemory& mem, std::span<const uint8_t> file) {
  if (file.size() < kSetupHeaderOffset + sizeof(SetupHeader)) {
    return Err("kernel image: file is too short to hold a bzImage header");
  }
  SetupHeader hdr;
  std::memcpy(&hdr, file.data() + kSetupHeaderOffset, sizeof hdr);
  if (hdr.header != kHdrSMagic) return Err("kernel image: not a bzImage (no \"HdrS\" at 0x202)");
  if (hdr.boot_flag != kBootFlagMagic) {
    return Err("kernel image: bzImage boot_flag is not 0xAA55; the file is corrupt");
  }
  // The 64-bit protocol says the header ends at 0x202 + the byte at 0x201 (the jump's target).
  // Fields past that end belong to setup code, not the header, so they are not trusted.
  const size_t hdr_end = kHdrSOffset + file[0x201];
  const size_t hdr_len = std::min(hdr_end - kSetupHeaderOffset, sizeof(SetupHeader));
  std::memset(reinterpret_cast<uint8_t*>(&hdr) + hdr_len, 0, sizeof(SetupHeader) - hdr_len);

  const uint16_t version = hdr.version;
  if (version < kMinBootProtocol) {
    char v[16];
    std::snprintf(v, sizeof v, "%u.%02u", version >> 8, version & 0xff);
    return Err(std::string("kernel image: bzImage boot protocol ") + v +
               " is too old; uvm needs 2.12 or newer (Linux 3.8+)");
  }
  if (!(hdr.xloadflags & kXlfKernel64)) {
    return Err(
        "kernel image: bzImage has no 64-bit entry point (XLF_KERNEL_64); "
        "use a 64-bit x86 kernel");
  }
  if (!(hdr.loadflags & kLoadedHigh)) {
    return Err("kernel image: zImage (not loaded high) is not supported; use a bzImage");
  }

  // boot.rst: setup_sects == 0 means 4; the protected-mode code follows the boot sector and the
  // setup sectors, and syssize gives its length in 16-byte paragraphs.
  const uint64_t setup_sects = hdr.setup_sects == 0 ? 4 : hdr.setup_sects;
  const uint64_t setup_bytes = (setup_sects + 1) * 512;
  if (setup_bytes >= file.size()) {
    return Err("kernel image: bzImage setup (" + std::to_string(setup_sects) +
               " sectors) extends past the end of the file; the file is truncated");
  }
  const uint64_t sys_bytes = uint64_t{hdr.syssize} * 16;
  if (sys_bytes <= kBzImage64BitEntryOffset) {
    return Err("kernel image: bzImage syssize (" + HumanSize(sys_bytes) +
               ") is too small to hold a kernel; the file is corrupt");
  }
  if (sys_bytes > file.size() - setup_bytes) {
    return Err("kernel image: bzImage is truncated: its header declares " + HumanSize(sys_bytes) +
               " of kernel but the file holds " + HumanSize(file.size() - setup_bytes));
  }

  // boot.rst (pref_address): a non-relocatable kernel moves itself to pref_address anyway, so load
  // it there; a relocatable one goes to the protocol's default of 1 MiB.
  uint64_t load_addr = kHighMemStart;
  if (!hdr.relocatable_kernel && hdr.pref_address != 0) load_addr = hdr.pref_address;
  if (load_addr < kHighMemStart || !mem.Contains(load_addr, 1)) {
    return Err("kernel image: bzImage wants to load at " + Hex(load_addr) +
               ", which is below 1 MiB (uvm's boot data) or not guest RAM");
  }
  // boot.rst (init_size): the kernel needs init_size bytes from its runtime start, which for a
  // relocatable kernel is the load address rounded up to kernel_alignment. The 64-bit
  // decompressor also never runs below pref_address (its link address), so count from there.
  uint64_t runtime_start = load_addr;
  if (hdr.relocatable_kernel) {
    const uint64_t align = hdr.kernel_alignment;
    if (align != 0 && (align & (align - 1)) == 0) {
      runtime_start = (load_addr + align - 1) & ~(align - 1);
    }
    // Bounded by guest RAM, so the sums below cannot wrap. (Copied out of the packed header:
    // std::max takes references, which must not bind to misaligned fields.)
    const uint64_t pref = hdr.pref_address;
    if (mem.Contains(pref, 1)) runtime_start = std::max(runtime_start, pref);
  }
  const uint64_t init_size = hdr.init_size;
  const uint64_t image_end = std::max(load_addr + sys_bytes, runtime_start + init_size);
  if (load_addr >= image_end || !mem.Contains(load_addr, image_end - load_addr)) {
    const uint64_t low_end =
        mem.regions().empty() ? 0 : mem.regions()[0].gpa + mem.regions()[0].size;
    return Err("kernel image: bzImage needs guest memory " + Hex(load_addr) + ".." +
               Hex(image_end) + " to decompress, but low RAM ends at " + Hex(low_end) +
               " — raise --memory");
  }
  UVM_CHECK(mem.Write(load_addr, file.subspan(setup_bytes, sys_bytes)));

  LoadedKernel k{};
  k.entry = load_addr + kBzImage64BitEntryOffset;
  k.image_start = load_addr;
  k.image_end = image_end;
  k.is_bzimage = true;
  k.header = hdr;
  // A header too short to carry initrd_addr_max means the protocol's old default applies.
  if (hdr_len < offsetof(SetupHeader, initrd_addr_max) + sizeof(uint32_t)) {
    k.header.initrd_addr_max = kLegacyInitrdAddrMax;
  }
  return k;
}

}  // namespace uvm::boot
