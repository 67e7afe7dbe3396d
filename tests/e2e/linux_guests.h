// The e2e tier's one precondition: this host's KVM can run a Linux guest (hardware
// virtualization, or inside the lab). Probed once per test binary with the same tiny guests as
// `uvm doctor`; where it fails, tests report SKIPPED with the reason, never passed.
#pragma once

#include <gtest/gtest.h>

#include "vmm/host_probe.h"

namespace uvm::testing {

inline bool LinuxGuestsRunHere() {
  static const bool direct = vmm::ProbeHost().linux_direct();
  return direct;
}

}  // namespace uvm::testing

#define UVM_SKIP_UNLESS_LINUX_GUESTS()                                                        \
  if (!::uvm::testing::LinuxGuestsRunHere())                                                  \
  GTEST_SKIP() << "this host's KVM cannot run Linux guests (see `uvm doctor`); the e2e tier " \
                  "runs inside the lab: make test"
