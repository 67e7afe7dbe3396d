// Whether this host's KVM runs Linux guests, for the commands that start utility VMs. The answer
// comes from vmm::ProbeHost (tiny guests, 0.1-0.2 s in the lab: a third of a clone's whole `uvm
// run`), so a yes is remembered in /run/uvm (tmpfs: gone at reboot) together with what it depends
// on: the boot and the loaded KVM modules. A no is never remembered, so its error is always fresh.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace uvm::runtime {

bool LinuxGuestsRunHere();

// LinuxGuestsRunHere(), or an error (ErrorCode::kUnsupported) that points at `uvm doctor` and at
// `lab_command`, the same work run inside the lab.
Result<void> RequireLinuxGuests(const std::string& lab_command);

// What a remembered yes must match: the boot id, and the name and size of each kvm module in
// /proc/modules (not its use count, which every running VM changes). Empty without a boot id
// (then nothing is remembered).
std::string HostVerdictKey(std::string_view boot_id, std::string_view proc_modules);

}  // namespace uvm::runtime
