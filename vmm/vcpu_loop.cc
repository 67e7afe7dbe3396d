#include "vmm/vcpu_loop.h"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "base/log.h"

namespace uvm::vmm {
namespace {

int KickSignal() { return SIGRTMIN + 1; }

void NoOpHandler(int) {}

void LogUnclaimed(const char* kind, uint64_t addr, size_t len, bool write) {
  // A guest can touch unclaimed addresses at will; rate-limit so it cannot flood the host log.
  static RateLimiter limiter(20, std::chrono::seconds(1));
  if (!LogEnabled(LogLevel::kDebug) || !limiter.Allow()) return;
  char msg[128];
  std::snprintf(msg, sizeof msg, "unclaimed %s %s at 0x%llx (%zu bytes)", kind,
                write ? "write" : "read", static_cast<unsigned long long>(addr), len);
  Log(LogLevel::kDebug, msg);
}

void HandlePio(kvm_run* run, const devices::Bus& bus) {
  auto* base = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
  const size_t size = run->io.size;
  // A `rep ins/outs` arrives as one exit with count > 1, the items back to back.
  for (uint32_t i = 0; i < run->io.count; ++i) {
    std::span<uint8_t> item(base + i * size, size);
    if (run->io.direction == KVM_EXIT_IO_OUT) {
      if (!bus.Write(run->io.port, item)) LogUnclaimed("port", run->io.port, size, true);
    } else if (!bus.Read(run->io.port, item)) {
      std::memset(item.data(), 0,
                  size);  // unclaimed reads are zero (ARCHITECTURE.md "Threads and exit dispatch")
      LogUnclaimed("port", run->io.port, size, false);
    }
  }
}

void HandleMmio(kvm_run* run, const devices::Bus& bus) {
  std::span<uint8_t> data(run->mmio.data, run->mmio.len);
  if (run->mmio.is_write) {
    if (!bus.Write(run->mmio.phys_addr, data)) {
      LogUnclaimed("mmio", run->mmio.phys_addr, data.size(), true);
    }
  } else if (!bus.Read(run->mmio.phys_addr, data)) {
    std::memset(data.data(), 0, data.size());
    LogUnclaimed("mmio", run->mmio.phys_addr, data.size(), false);
  }
}

std::string Describe(const char* what, uint64_t value) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s 0x%llx", what, static_cast<unsigned long long>(value));
  return buf;
}

}  // namespace

void InstallKickHandler() {
  struct sigaction sa {};
  sa.sa_handler = NoOpHandler;  // no SA_RESTART: KVM_RUN must return EINTR
  sigemptyset(&sa.sa_mask);
  sigaction(KickSignal(), &sa, nullptr);
}

void KickVcpu(Vcpu& vcpu, unsigned long thread) {
  __atomic_store_n(&vcpu.run_state()->immediate_exit, 1, __ATOMIC_SEQ_CST);
  pthread_kill(static_cast<pthread_t>(thread), KickSignal());
}

void RunVcpu(Vcpu& vcpu, IoBuses buses, ExitLatch& latch, VcpuGate* gate) {
  kvm_run* run = vcpu.run_state();
  std::string where = "vCPU " + std::to_string(vcpu.index()) + ": ";
  while (!latch.fired()) {
    // A pause's kick leaves immediate_exit set: the gate parks the vCPU while the VM is paused
    // and clears it, unless the VM is ending (then the kick was a stop's and must stay).
    if (gate &&
        (__atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST) || gate->pause_requested())) {
      gate->Pass([run] { __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST); });
      continue;  // the latch decides again
    }
    if (auto r = vcpu.Run(); !r) {
      latch.Report({ExitKind::kError, 0, where + r.error().message});
      return;
    }
    switch (run->exit_reason) {
      case KVM_EXIT_IO:
        HandlePio(run, buses.pio);
        break;
      case KVM_EXIT_MMIO:
        HandleMmio(run, buses.mmio);
        break;
      case KVM_EXIT_INTR:
        break;  // kicked: the loop condition decides
      case KVM_EXIT_HLT:
        latch.Report({ExitKind::kHalted, 0, where + "halted"});
        return;
      case KVM_EXIT_SHUTDOWN:
        latch.Report(
            {ExitKind::kTripleFault, 0, where + "the guest triple-faulted (its CPU reset itself)"});
        return;
      case KVM_EXIT_SYSTEM_EVENT:
        switch (run->system_event.type) {
          case KVM_SYSTEM_EVENT_SHUTDOWN:
            latch.Report({ExitKind::kPowerOff, 0, where + "guest powered off"});
            return;
          case KVM_SYSTEM_EVENT_RESET:
            latch.Report({ExitKind::kReset, 0, where + "guest reset"});
            return;
          default:
            latch.Report(
                {ExitKind::kGuestCrash, 0,
                 Describe((where + "guest system event").c_str(), run->system_event.type)});
            return;
        }
      case KVM_EXIT_FAIL_ENTRY:
        latch.Report({ExitKind::kError, 0,
                      Describe((where + "KVM could not enter the guest, hardware reason").c_str(),
                               run->fail_entry.hardware_entry_failure_reason)});
        return;
      case KVM_EXIT_INTERNAL_ERROR: {
        std::string msg =
            Describe((where + "KVM internal error, suberror").c_str(), run->internal.suberror);
        if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
          msg +=
              " (instruction emulation failed; `uvm doctor` tells whether this host's KVM can "
              "run Linux guests)";
        }
        latch.Report({ExitKind::kError, 0, msg});
        return;
      }
      default:
        latch.Report({ExitKind::kError, 0,
                      Describe((where + "unexpected KVM exit").c_str(), run->exit_reason)});
        return;
    }
  }
}

}  // namespace uvm::vmm
