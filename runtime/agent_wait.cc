#include "runtime/agent_wait.h"

#include <signal.h>

namespace uvm::runtime {

AgentWait WaitForAgent(vmm::UtilityVm& vm, const std::string& uds,
                       std::chrono::milliseconds timeout) {
  AgentWait out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // Signals wait in the blocked set until the caller's relay runs; one meant to stop uvm while
    // the VM is still starting ends the wait here.
    sigset_t pending;
    sigpending(&pending);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
      if (sigismember(&pending, sig)) {
        vm.Stop("stopped by signal " + std::to_string(sig));
        (void)vm.Wait();
        out.signal = sig;
        return out;
      }
    }
    if (vm.finished()) {
      out.failure = "the utility VM ended before its agent answered";
      return out;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      out.failure =
          "the guest agent did not answer within " + std::to_string(timeout.count() / 1000) + " s";
      return out;
    }
    auto c = agent::AgentClient::Connect(agent::AgentAddress::Vsock(uds),
                                         std::chrono::milliseconds(500));
    if (c) {
      out.client.emplace(std::move(*c));
      return out;
    }
  }
}

}  // namespace uvm::runtime
