// `uvm doctor`: what this host's KVM can do, found by running tiny guests, and the verdict:
// Linux guests run directly, or only inside the lab (`uvm lab`).
#pragma once

#include "base/result.h"

namespace uvm::cli {

struct DoctorOptions {
  bool json = false;
  bool verdict_only = false;
};

Result<int> RunDoctor(const DoctorOptions& options);

}  // namespace uvm::cli
