// Test-only builders for synthetic kernel images: a minimal ELF64 vmlinux and a bzImage with just
// a setup header and a payload. Tests then corrupt single fields to exercise the loader's checks.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "boot/bootparam.h"

namespace uvm::boot::testing {

struct ElfSegmentSpec {
  uint64_t paddr;
  uint64_t vaddr;
  std::vector<uint8_t> data;  // p_filesz bytes
  uint64_t memsz;
};

// File layout: ELF header, program headers, then each segment's data at a 4 KiB boundary.
inline std::vector<uint8_t> MakeElf(const std::vector<ElfSegmentSpec>& segs, uint64_t entry) {
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_entry = entry;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = static_cast<Elf64_Half>(segs.size());

  std::vector<uint8_t> file(0x1000);
  std::memcpy(file.data(), &eh, sizeof eh);
  for (size_t i = 0; i < segs.size(); ++i) {
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = PF_R | PF_X;
    ph.p_offset = file.size();
    ph.p_vaddr = segs[i].vaddr;
    ph.p_paddr = segs[i].paddr;
    ph.p_filesz = segs[i].data.size();
    ph.p_memsz = segs[i].memsz;
    ph.p_align = 0x1000;
    std::memcpy(file.data() + sizeof eh + i * sizeof ph, &ph, sizeof ph);
    file.insert(file.end(), segs[i].data.begin(), segs[i].data.end());
    file.resize((file.size() + 0xfff) & ~size_t{0xfff});
  }
  return file;
}

inline Elf64_Ehdr GetEhdr(const std::vector<uint8_t>& f) {
  Elf64_Ehdr eh;
  std::memcpy(&eh, f.data(), sizeof eh);
  return eh;
}
inline void SetEhdr(std::vector<uint8_t>& f, const Elf64_Ehdr& eh) {
  std::memcpy(f.data(), &eh, sizeof eh);
}
inline Elf64_Phdr GetPhdr(const std::vector<uint8_t>& f, size_t i) {
  Elf64_Phdr ph;
  std::memcpy(&ph, f.data() + sizeof(Elf64_Ehdr) + i * sizeof ph, sizeof ph);
  return ph;
}
inline void SetPhdr(std::vector<uint8_t>& f, size_t i, const Elf64_Phdr& ph) {
  std::memcpy(f.data() + sizeof(Elf64_Ehdr) + i * sizeof ph, &ph, sizeof ph);
}

// A relocatable 64-bit bzImage: header at 0x1f1 as a protocol 2.15 kernel would have it, then
// `payload` bytes of protected-mode "code" (a byte pattern) after the setup sectors.
inline SetupHeader DefaultBzHeader(uint32_t payload) {
  SetupHeader h{};
  h.setup_sects = 4;
  h.syssize = payload / 16;
  h.boot_flag = kBootFlagMagic;
  // A short jmp (0xeb) whose displacement makes the header end at 0x26c, the end of 2.15's.
  h.jump = 0xeb | ((0x26c - 0x202) << 8);
  h.header = kHdrSMagic;
  h.version = 0x020f;
  h.loadflags = kLoadedHigh;
  h.initrd_addr_max = 0x7fffffff;
  h.kernel_alignment = 0x200000;
  h.relocatable_kernel = 1;
  h.min_alignment = 21;
  h.xloadflags = kXlfKernel64 | kXlfCanBeLoadedAbove4G;
  h.cmdline_size = 2047;
  h.pref_address = 0x1000000;
  h.init_size = 0x800000;
  return h;
}

inline std::vector<uint8_t> MakeBzImage(const SetupHeader& h, size_t payload) {
  const size_t setup = ((h.setup_sects == 0 ? 4 : h.setup_sects) + 1) * 512;
  std::vector<uint8_t> file(setup + payload);
  std::memcpy(file.data() + kSetupHeaderOffset, &h, sizeof h);
  for (size_t i = 0; i < payload; ++i) file[setup + i] = static_cast<uint8_t>(i * 7 + 3);
  return file;
}

}  // namespace uvm::boot::testing
