#include "runtime/agent_vm.h"

#include <fcntl.h>
#include <signal.h>

#include "base/log.h"

namespace uvm::runtime {
namespace {

// How much of the console a failure shows in the debug log.
constexpr size_t kConsoleTail = 2000;

}  // namespace

int PendingStopSignal() {
  sigset_t pending;
  sigpending(&pending);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    if (sigismember(&pending, sig)) return sig;
  }
  return 0;
}

std::string ControlSocketOf(const std::string& vsock_uds) {
  const size_t slash = vsock_uds.rfind('/');
  return (slash == std::string::npos ? std::string() : vsock_uds.substr(0, slash + 1)) + "api.sock";
}

Result<std::unique_ptr<AgentVm>> AgentVm::Start(TempDir dir, vmm::UtilityVmSpec spec,
                                                std::chrono::milliseconds agent_timeout,
                                                std::string* console_tail) {
  std::unique_ptr<AgentVm> self(new AgentVm(std::move(dir)));
  const std::string console = self->console_log();
  self->console_.Reset(::open(console.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!self->console_.valid()) return ErrnoErr("creating " + console);
  spec.vsock_uds = self->vsock_uds();
  spec.api_sock = ControlSocketOf(self->vsock_uds());
  spec.console_fd = self->console_.get();
  UVM_TRY(self->vm_, vmm::UtilityVm::Start(std::move(spec)));

  // The agent answers once the guest has booted, or at once in a clone.
  const auto deadline = std::chrono::steady_clock::now() + agent_timeout;
  for (;;) {
    // Signals wait in the blocked set until the caller's relay runs; one meant to stop uvm while
    // the VM is still starting ends the wait here.
    if (int sig = PendingStopSignal()) {
      self->Stop("stopped by signal " + std::to_string(sig));
      return Err(ErrorCode::kInterrupted, "stopped by signal " + std::to_string(sig));
    }
    if (self->vm_->finished()) {
      return tl::unexpected(
          self->Fail("the utility VM ended before its agent answered", console_tail));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      Error e = self->Fail("the guest agent did not answer within " +
                               std::to_string(agent_timeout.count() / 1000) + " s",
                           console_tail);
      e.code = ErrorCode::kUnavailable;
      return tl::unexpected(e);
    }
    auto client = agent::AgentClient::Connect(agent::AgentAddress::Vsock(self->vsock_uds()),
                                              std::chrono::milliseconds(500));
    if (client) {
      self->agent_.emplace(std::move(*client));
      return self;
    }
    if (client.error().code == ErrorCode::kUnsupported) {
      return tl::unexpected(self->Fail(client.error().message, console_tail));
    }
  }
}

AgentVm::~AgentVm() {
  agent_.reset();
  vm_.reset();  // stops the VM and waits for it
}

std::string AgentVm::EndedBecause() {
  auto r = vm_->Wait();
  if (!r) return r.error().message;
  if (r->panicked) return "the guest kernel panicked";
  if (!r->exit.detail.empty() && r->exit.kind != vmm::ExitKind::kHostSignal) {
    return r->exit.detail;
  }
  return vmm::ExitKindName(r->exit.kind);
}

Error AgentVm::Fail(const std::string& what, std::string* console_tail) {
  agent_.reset();
  vm_->Stop(what);
  const std::string why = EndedBecause();
  const std::string console = FileTail(console_log(), kConsoleTail);
  Log(LogLevel::kDebug, "guest console:\n" + console);
  if (console_tail) *console_tail = console;
  return Error{what + " (the utility VM: " + why + "; run with -v for its console)",
               ErrorCode::kGuestFailed};
}

void AgentVm::Stop(const std::string& why) {
  agent_.reset();
  vm_->Stop(why);
  (void)vm_->Wait();
}

Result<vmm::LinuxVmResult> AgentVm::SaveAndStop() {
  agent_.reset();
  vm_->SaveAndStop();
  return vm_->Wait();
}

}  // namespace uvm::runtime
