// The x86 Linux boot protocol's data structures, as uvm needs them: the setup header a bzImage
// carries at file offset 0x1f1 and the 4096-byte "zero page" (struct boot_params) handed to the
// kernel in %rsi. Layouts follow Linux Documentation/x86/boot.rst ("The Real-Mode Kernel Header",
// protocol 2.15) and Documentation/x86/zero-page.rst; every offset is pinned by a static_assert so
// a mistake here fails the build instead of booting a kernel with garbage parameters.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uvm::boot {

// Where the setup header sits, both in a bzImage file and inside boot_params (boot.rst).
inline constexpr size_t kSetupHeaderOffset = 0x1f1;
// "HdrS" read as a little-endian 32-bit value at offset 0x202.
inline constexpr uint32_t kHdrSMagic = 0x53726448;
inline constexpr uint16_t kBootFlagMagic = 0xaa55;

// loadflags bits (boot.rst, "Details of Header Fields").
inline constexpr uint8_t kLoadedHigh = 1u << 0;  // protected-mode code is loaded at 0x100000
inline constexpr uint8_t kCanUseHeap = 1u << 7;  // heap_end_ptr is valid
// xloadflags bits (protocol 2.12+).
inline constexpr uint16_t kXlfKernel64 = 1u << 0;  // 64-bit entry point at load address + 0x200
inline constexpr uint16_t kXlfCanBeLoadedAbove4G = 1u << 1;

#pragma pack(push, 1)

// The real-mode kernel header, fields in file order. Offsets in comments are from the start of the
// file (or of boot_params); the struct itself begins at 0x1f1.
struct SetupHeader {
  uint8_t setup_sects;             // 0x1f1  512-byte sectors of real-mode setup; 0 means 4
  uint16_t root_flags;             // 0x1f2
  uint32_t syssize;                // 0x1f4  protected-mode code size in 16-byte paragraphs (2.04+)
  uint16_t ram_size;               // 0x1f8  obsolete
  uint16_t vid_mode;               // 0x1fa
  uint16_t root_dev;               // 0x1fc
  uint16_t boot_flag;              // 0x1fe  0xaa55
  uint16_t jump;                   // 0x200  short jmp; its second byte bounds the header's length
  uint32_t header;                 // 0x202  "HdrS"
  uint16_t version;                // 0x206  boot protocol version, e.g. 0x020f
  uint32_t realmode_swtch;         // 0x208
  uint16_t start_sys_seg;          // 0x20c  obsolete
  uint16_t kernel_version;         // 0x20e  offset of a version string, minus 0x200
  uint8_t type_of_loader;          // 0x210  0xff: a loader with no assigned id
  uint8_t loadflags;               // 0x211
  uint16_t setup_move_size;        // 0x212
  uint32_t code32_start;           // 0x214
  uint32_t ramdisk_image;          // 0x218  initrd address, low 32 bits
  uint32_t ramdisk_size;           // 0x21c  initrd size, low 32 bits
  uint32_t bootsect_kludge;        // 0x220  obsolete
  uint16_t heap_end_ptr;           // 0x224  end of setup heap relative to setup start, minus 0x200
  uint8_t ext_loader_ver;          // 0x226
  uint8_t ext_loader_type;         // 0x227
  uint32_t cmd_line_ptr;           // 0x228  command line address, low 32 bits
  uint32_t initrd_addr_max;        // 0x22c  highest byte the initrd may occupy
  uint32_t kernel_alignment;       // 0x230
  uint8_t relocatable_kernel;      // 0x234
  uint8_t min_alignment;           // 0x235  log2 of the minimum alignment
  uint16_t xloadflags;             // 0x236  (2.12+)
  uint32_t cmdline_size;           // 0x238  longest command line, excluding the NUL (2.06+)
  uint32_t hardware_subarch;       // 0x23c
  uint64_t hardware_subarch_data;  // 0x240
  uint32_t payload_offset;         // 0x248  compressed kernel, from the protected-mode code start
  uint32_t payload_length;         // 0x24c
  uint64_t setup_data;             // 0x250  linked list of struct setup_data (0: none)
  uint64_t pref_address;           // 0x258  preferred load address (2.10+)
  uint32_t init_size;              // 0x260  memory needed from the runtime start while booting
  uint32_t handover_offset;        // 0x264  EFI handover entry (not used by uvm)
  uint32_t kernel_info_offset;     // 0x268  (2.15+)
};

// One BIOS-style memory map entry in boot_params.e820_table.
struct E820Entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
};

inline constexpr uint32_t kE820Ram = 1;
inline constexpr uint32_t kE820Reserved = 2;
// boot_params has room for this many e820 entries (zero-page.rst: 0x2d0, 0xa00 bytes).
inline constexpr size_t kE820MaxEntries = 128;

// The zero page. Fields uvm does not fill are kept as opaque padding: a fresh, all-zero
// boot_params is what the 64-bit boot protocol asks a loader to start from.
struct BootParams {
  uint8_t screen_info_etc[0x070];   // 0x000  screen_info, apm_bios_info, tboot_addr, ist_info
  uint64_t acpi_rsdp_addr;          // 0x070
  uint8_t pad_078[0x0c0 - 0x078];   // 0x078  hd0/hd1 info, sys_desc_table, olpc header
  uint32_t ext_ramdisk_image;       // 0x0c0  initrd address, high 32 bits
  uint32_t ext_ramdisk_size;        // 0x0c4  initrd size, high 32 bits
  uint32_t ext_cmd_line_ptr;        // 0x0c8  command line address, high 32 bits
  uint8_t pad_0cc[0x1e8 - 0x0cc];   // 0x0cc  cc_blob_address, edid_info, efi_info, alt_mem_k...
  uint8_t e820_entries;             // 0x1e8
  uint8_t eddbuf_entries;           // 0x1e9
  uint8_t edd_mbr_sig_buf_entries;  // 0x1ea
  uint8_t kbd_status;               // 0x1eb
  uint8_t secure_boot;              // 0x1ec
  uint8_t pad_1ed[2];               // 0x1ed
  uint8_t sentinel;                 // 0x1ef  must stay 0 (a nonzero value makes Linux distrust us)
  uint8_t pad_1f0;                  // 0x1f0
  SetupHeader hdr;                  // 0x1f1
  uint8_t pad_26c[0x2d0 - 0x26c];   // 0x26c  edd_mbr_sig_buffer
  E820Entry e820_table[kE820MaxEntries];  // 0x2d0
  uint8_t pad_cd0[0x1000 - 0xcd0];        // 0xcd0  eddbuf
};

#pragma pack(pop)

static_assert(sizeof(E820Entry) == 20);
static_assert(sizeof(SetupHeader) == 0x26c - 0x1f1);
static_assert(offsetof(SetupHeader, setup_sects) == 0x1f1 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, syssize) == 0x1f4 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, boot_flag) == 0x1fe - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, jump) == 0x200 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, header) == 0x202 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, version) == 0x206 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, type_of_loader) == 0x210 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, loadflags) == 0x211 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, code32_start) == 0x214 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, ramdisk_image) == 0x218 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, ramdisk_size) == 0x21c - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, heap_end_ptr) == 0x224 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, cmd_line_ptr) == 0x228 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, initrd_addr_max) == 0x22c - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, kernel_alignment) == 0x230 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, relocatable_kernel) == 0x234 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, min_alignment) == 0x235 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, xloadflags) == 0x236 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, cmdline_size) == 0x238 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, payload_offset) == 0x248 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, payload_length) == 0x24c - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, setup_data) == 0x250 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, pref_address) == 0x258 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, init_size) == 0x260 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, kernel_info_offset) == 0x268 - kSetupHeaderOffset);

static_assert(sizeof(BootParams) == 4096);
static_assert(offsetof(BootParams, acpi_rsdp_addr) == 0x070);
static_assert(offsetof(BootParams, ext_ramdisk_image) == 0x0c0);
static_assert(offsetof(BootParams, ext_ramdisk_size) == 0x0c4);
static_assert(offsetof(BootParams, ext_cmd_line_ptr) == 0x0c8);
static_assert(offsetof(BootParams, e820_entries) == 0x1e8);
static_assert(offsetof(BootParams, sentinel) == 0x1ef);
static_assert(offsetof(BootParams, hdr) == kSetupHeaderOffset);
static_assert(offsetof(BootParams, e820_table) == 0x2d0);
static_assert(offsetof(BootParams, pad_cd0) == 0xcd0);

}  // namespace uvm::boot
