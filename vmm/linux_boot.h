// Puts a Linux kernel into a created Machine per the 64-bit boot protocol: kernel image, initrd,
// command line, boot_params with the e820 map, GDT, identity page tables and MP table in guest
// RAM; CPUID/MSRs/LAPIC on every vCPU; the boot vCPU at the 64-bit entry with RSI -> boot_params.
// Application processors are left in wait-for-SIPI: the guest starts them through the LAPIC.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "vmm/machine.h"

namespace uvm::vmm {

struct LinuxImage {
  std::span<const uint8_t> kernel;  // vmlinux (ELF) or bzImage
  int kernel_fd = -1;  // the same file, if open: vmlinux segments are then mapped, not copied
  std::optional<std::span<const uint8_t>> initrd;
  std::string cmdline;
};

Result<void> LoadLinux(Machine& machine, const LinuxImage& image);

}  // namespace uvm::vmm
