// The MSR values a vCPU starts Linux with (what firmware would leave behind).
#pragma once

#include <linux/kvm.h>

#include <vector>

namespace uvm::vmm {

std::vector<kvm_msr_entry> BootMsrs();

}  // namespace uvm::vmm
