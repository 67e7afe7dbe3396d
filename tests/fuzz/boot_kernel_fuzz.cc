// libFuzzer target: LoadKernel() on arbitrary bytes. The kernel file is untrusted input, so the
// loader must reject anything malformed with an error and never read outside the input or write
// outside guest RAM (ASan/UBSan turn either into a crash).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/guest_memory.h"
#include "boot/boot_params.h"
#include "boot/kernel_loader.h"

namespace {

// Small guest RAM so the fuzzer stays fast; kernels asking for more are refused, which is the
// error path we want exercised anyway.
constexpr uint64_t kGuestBytes = 32ull << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::vector<uint8_t>* ram = new std::vector<uint8_t>(kGuestBytes);
  const uvm::GuestMemory mem = uvm::GuestMemory::View(ram->data(), ram->size());
  std::span<const uint8_t> file(data, size);
  auto kernel = uvm::boot::LoadKernel(mem, file);
  if (!kernel) return 0;
  // A kernel that loads must also yield a sane layout for what is placed after it.
  if (kernel->image_start > kernel->image_end || !mem.Contains(kernel->image_start, 1)) {
    __builtin_trap();
  }
  const uint8_t initrd[4096] = {};
  auto placed = uvm::boot::PlaceInitrd(mem, *kernel, initrd);
  if (placed && placed->addr < kernel->image_end) __builtin_trap();
  (void)uvm::boot::WriteBootParams(mem, *kernel, placed ? std::optional(*placed) : std::nullopt, 0,
                                   {});
  return 0;
}
