// `uvm doctor`: what this host's KVM can do, found by running tiny guests, and the verdict:
// Linux guests run directly, or only inside the lab (`uvm lab`).

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "base/fs.h"
#include "cli/command.h"
#include "runtime/paths.h"
#include "vmm/host_probe.h"

namespace uvm::cli {
namespace {

struct DoctorOptions {
  bool json = false;
  bool verdict_only = false;
};

const char* Mark(bool ok) { return ok ? "ok  " : "NO  "; }

void PrintCheck(const char* name, const vmm::ProbeCheck& c, bool ran) {
  if (!ran) {
    std::printf("  %-22s not run (an earlier check failed)\n", name);
    return;
  }
  std::printf("  %-22s %s%s\n", name, Mark(c.ok), c.detail.c_str());
}

Result<int> RunDoctor(const DoctorOptions& o) {
  vmm::HostProbe p = vmm::ProbeHost();
  const bool direct = p.linux_direct();
  const bool qemu = FindInPath("qemu-system-x86_64").has_value();
  const std::string lab_dir = runtime::BuiltinImagesDir() + "/lab";
  const bool lab_images = access((lab_dir + "/bzImage").c_str(), R_OK) == 0 &&
                          access((lab_dir + "/initramfs.cpio.gz").c_str(), R_OK) == 0;
  if (o.verdict_only) {
    std::printf("%s\n", direct ? "direct" : "lab");
    return 0;
  }
  if (o.json) {
    auto check = [](const vmm::ProbeCheck& c) {
      return nlohmann::json{{"ok", c.ok}, {"detail", c.detail}};
    };
    nlohmann::json j = {{"linux_guests", direct ? "direct" : "lab"},
                        {"kvm", check(p.kvm)},
                        {"tiny_guest", check(p.tiny_guest)},
                        {"cpuid_filtering", check(p.cpuid_filter)},
                        {"syscall_reaches_cpl0", check(p.syscall_cpl0)},
                        {"guest_kernel_mode_ns_per_loop", p.cpl0_ns_per_loop},
                        {"kvm_pvm_native", p.pvm_native},
                        {"tun", p.tun},
                        {"vhost_net", p.vhost_net},
                        {"vhost_vsock", p.vhost_vsock},
                        {"lab", {{"qemu", qemu}, {"images", lab_images}}}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("KVM\n");
  PrintCheck("/dev/kvm", p.kvm, true);
  PrintCheck("tiny guest", p.tiny_guest, p.kvm.ok);
  PrintCheck("CPUID filtering", p.cpuid_filter, p.tiny_guest.ok);
  PrintCheck("SYSCALL to ring 0", p.syscall_cpl0, p.tiny_guest.ok);
  if (p.cpl0_ns_per_loop > 0) {
    // Hardware runs a `dec; jnz` iteration in well under 10 ns; an instruction emulator in 100s.
    std::printf("  %-22s %.1f ns per loop iteration%s\n", "guest kernel mode", p.cpl0_ns_per_loop,
                p.cpl0_ns_per_loop > 50 ? " (emulated, not hardware speed)" : "");
  }
  if (p.pvm_native) std::printf("  %-22s kvm_pvm in native-guest mode\n", "module");
  std::printf("Devices\n");
  std::printf("  %-22s %s\n", "/dev/net/tun", p.tun ? "ok" : "absent (no --net)");
  std::printf("  %-22s %s\n", "/dev/vhost-net",
              p.vhost_net ? "present" : "absent (uvm does not need it)");
  std::printf("  %-22s %s\n", "/dev/vhost-vsock",
              p.vhost_vsock ? "present" : "absent (uvm's vsock is in user space)");
  std::printf("Lab\n");
  std::printf("  %-22s %s\n", "qemu-system-x86_64",
              qemu ? "ok" : "absent (apt-get install qemu-system-x86)");
  std::printf("  %-22s %s\n", "lab images", lab_images ? "ok" : "not built (make images)");
  std::printf("\n");
  if (direct) {
    std::printf("Verdict: Linux guests can run directly on this host's /dev/kvm.\n");
  } else if (!p.kvm.ok) {
    std::printf(
        "Verdict: this host has no usable KVM; Linux guests can run only inside the lab "
        "(`uvm lab`), which emulates a CPU with hardware virtualization in software.\n");
  } else {
    std::printf("Verdict: Linux guests cannot run directly on this host's /dev/kvm: ");
    if (!p.cpuid_filter.ok) std::printf("it ignores the CPUID uvm sets; ");
    if (!p.syscall_cpl0.ok) std::printf("system calls do not reach the guest kernel; ");
    if (!p.tiny_guest.ok) std::printf("even a tiny guest fails; ");
    std::printf(
        "so they run only inside the lab (`uvm lab -- CMD`), where a nested KVM has "
        "hardware-virtualization semantics.\n");
  }
  return 0;
}

}  // namespace

void RegisterDoctorCommand(CommandTable& table) {
  auto o = std::make_shared<DoctorOptions>();
  auto cmd = table.root.Sub("doctor", "What this host's KVM can do, and why");
  cmd.Flag("--json", o->json, "one JSON object instead of the report");
  cmd.Flag("--verdict", o->verdict_only,
           "print only `direct` (Linux guests run on this KVM) or `lab`");
  OnParsed(cmd, table, [o] { return RunDoctor(*o); });
}

}  // namespace uvm::cli
