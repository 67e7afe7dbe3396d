#include "vmm/msrs.h"

#include <cstdint>

namespace uvm::vmm {
namespace {
constexpr uint32_t kIa32Tsc = 0x10;
constexpr uint32_t kIa32MiscEnable = 0x1a0;
constexpr uint64_t kMiscEnableFastStrings = 1;
constexpr uint32_t kIa32SysenterCs = 0x174, kIa32SysenterEsp = 0x175, kIa32SysenterEip = 0x176;
constexpr uint32_t kMtrrDefType = 0x2ff;
// MTRRs enabled (bit 11), default type write-back (6): with no MTRRs set, all RAM is cacheable.
constexpr uint64_t kMtrrDefEnabledWriteBack = (1u << 11) | 6;
constexpr uint32_t kStar = 0xc0000081, kLstar = 0xc0000082, kCstar = 0xc0000083,
                   kSyscallMask = 0xc0000084, kKernelGsBase = 0xc0000102;
}  // namespace

std::vector<kvm_msr_entry> BootMsrs() {
  std::vector<kvm_msr_entry> msrs;
  auto add = [&](uint32_t index, uint64_t data) {
    kvm_msr_entry e{};
    e.index = index;
    e.data = data;
    msrs.push_back(e);
  };
  add(kIa32SysenterCs, 0);
  add(kIa32SysenterEsp, 0);
  add(kIa32SysenterEip, 0);
  add(kStar, 0);
  add(kCstar, 0);
  add(kKernelGsBase, 0);
  add(kSyscallMask, 0);
  add(kLstar, 0);
  add(kIa32Tsc, 0);
  add(kIa32MiscEnable, kMiscEnableFastStrings);
  add(kMtrrDefType, kMtrrDefEnabledWriteBack);
  return msrs;
}

}  // namespace uvm::vmm
