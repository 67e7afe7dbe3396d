// What this host's /dev/kvm can really do, found by running tiny guests rather than by reading
// flags: some KVMs (e.g. the kvm_pvm module in "native guest" mode) accept every ioctl yet cannot
// run Linux, because guest kernel mode is emulated, CPUID is passed through raw and SYSCALL never
// reaches ring 0. Each check records what it saw, in words.
#pragma once

#include <string>

namespace uvm::vmm {

struct ProbeCheck {
  bool ok = false;
  std::string detail;
};

struct HostProbe {
  ProbeCheck kvm;               // /dev/kvm opens, VM and vCPU can be created
  ProbeCheck tiny_guest;        // long-mode code runs, port I/O and HLT exit to uvm
  ProbeCheck cpuid_filter;      // the guest sees the CPUID uvm set, not the host's
  ProbeCheck syscall_cpl0;      // SYSCALL from CPL3 arrives at LSTAR in CPL0
  double cpl0_ns_per_loop = 0;  // one `dec; jnz` iteration in guest kernel mode
  bool pvm_native = false;      // /sys/module/kvm_pvm/parameters/pvm_native is Y
  bool tun = false, vhost_net = false, vhost_vsock = false;

  // Linux guests can run on this /dev/kvm directly (otherwise only inside the lab).
  bool linux_direct() const {
    return kvm.ok && tiny_guest.ok && cpuid_filter.ok && syscall_cpl0.ok;
  }
};

HostProbe ProbeHost();

}  // namespace uvm::vmm
