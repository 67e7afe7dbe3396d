#include "runtime/sandbox.h"

#include "base/log.h"
#include "base/random_id.h"
#include "runtime/paths.h"
#include "runtime/pool/server.h"
#include "runtime/template_store.h"

namespace uvm::runtime {
namespace {

constexpr auto kAgentTimeout = std::chrono::seconds(120);
// A pooled VM's agent answered the pool already: one that does not now is broken.
constexpr auto kPooledAgentTimeout = std::chrono::seconds(5);

// The VM in /run/uvm/<id> (the id is the run's: its tap is named after it).
Result<std::unique_ptr<AgentVm>> StartVm(const std::string& id, const vmm::UtilityVmSpec& spec) {
  UVM_CHECK(EnsureRunDir());
  UVM_TRY(TempDir dir, TempDir::CreateNamed(std::string(kRunDir) + "/" + id));
  return AgentVm::Start(std::move(dir), spec, kAgentTimeout);
}

}  // namespace

Result<std::unique_ptr<Sandbox>> Sandbox::FromPool(const SandboxSpec& spec, const std::string& key,
                                                   const PhaseTimer& timer) {
  auto claimed = ClaimPooledVm(spec.root, spec.shape, key, spec.shares);
  if (!claimed) return tl::unexpected(claimed.error());
  std::unique_ptr<Sandbox> s(new Sandbox());
  s->lease_.emplace(std::move(*claimed));
  s->pool_log_ = PoolLogPath(spec.root);
  timer.Mark("pooled VM " + s->lease_->vm());
  auto client = agent::AgentClient::Connect(agent::AgentAddress::Vsock(s->lease_->vsock_uds()),
                                            kPooledAgentTimeout);
  if (!client) {
    return Err(ErrorCode::kGuestFailed, "the pool's VM " + s->lease_->vm() + " did not answer (" +
                                            client.error().message + ")");
  }
  s->pooled_agent_.emplace(std::move(*client));
  s->agent_ = &*s->pooled_agent_;
  return s;
}

Result<std::unique_ptr<Sandbox>> Sandbox::Create(const SandboxSpec& spec, const PhaseTimer& timer) {
  // The template's key (three stats and a hash), once: for the pool's claim and the run's own
  // clone. A cold boot needs neither.
  Result<std::string> key = Err("a cold boot uses no template");
  if (!spec.cold) key = TemplateKey(spec.shape);
  if (spec.shares.size() != static_cast<size_t>(spec.shape.shares)) {
    return Err(ErrorCode::kInvalidArgument,
               "a sandbox with " + std::to_string(spec.shape.shares) + " share devices was given " +
                   std::to_string(spec.shares.size()) + " directories");
  }
  if (key && spec.use_pool && !spec.shape.net) {
    auto pooled = FromPool(spec, *key, timer);
    if (pooled) {
      timer.Mark("agent ready");
      return pooled;
    }
    // No pool, none ready (expected: debug), or a lent VM that does not answer (a warning): the
    // run makes its own clone.
    if (pooled.error().code == ErrorCode::kGuestFailed) {
      Log(LogLevel::kWarn, pooled.error().message + "; cloning the template instead");
    } else {
      Log(LogLevel::kDebug, "no pooled VM: " + pooled.error().message);
    }
  }

  std::unique_ptr<Sandbox> s(new Sandbox());
  const std::string id = RandomHexId();
  if (spec.shape.net) {
    UVM_TRY(s->tap_, PlanTapNetwork(id, HostIpv4Addresses()));
  }
  // By default the VM is a clone of the template of its shape, made on first use. A template
  // that cannot be made is not the container's problem: say why and boot.
  std::string template_dir;
  if (!spec.cold) {
    auto t = key ? TemplateStore(spec.root).FindOrCreate(spec.shape, *key) : key;
    if (t) {
      template_dir = *t;
    } else {
      Log(LogLevel::kWarn, "no template (" + t.error().message + "); booting the VM instead");
    }
  }
  timer.Mark(template_dir.empty() ? "booting" : "cloning " + template_dir);
  vmm::UtilityVmSpec vm_spec = ContainerVmSpec(spec.shape, template_dir);
  // The template's share devices were never mounted: this VM's directories take their place.
  for (size_t i = 0; i < spec.shares.size(); ++i) vm_spec.shares[i].config = spec.shares[i];
  if (s->tap_) {
    UVM_TRY(auto mac, devices::virtio::net::ParseMac(s->tap_->mac));
    vm_spec.nets = {{s->tap_->tap, mac}};
  }
  auto vm = StartVm(id, vm_spec);
  if (!vm && vm.error().code != ErrorCode::kInterrupted && !vm_spec.restore_dir.empty()) {
    // A template that does not restore (damaged, or saved by a KVM that differs) must not cost
    // the container its run: say why, and boot.
    Log(LogLevel::kWarn, "the template in " + vm_spec.restore_dir + " did not start (" +
                             vm.error().message +
                             "); booting the VM instead (`uvm template rm` removes it)");
    vm_spec.restore_dir.clear();
    vm = StartVm(id, vm_spec);
  }
  if (!vm) return tl::unexpected(vm.error());
  s->own_vm_ = std::move(*vm);
  s->agent_ = s->own_vm_->agent();
  timer.Mark("agent ready");
  // The VM made the tap before its vCPUs started, so it is there now; it goes when the VM ends.
  if (s->tap_) {
    if (auto r = ConfigureHostTap(*s->tap_); !r) return tl::unexpected(s->Fail(r.error().message));
  }
  return s;
}

Sandbox::~Sandbox() { Stop(); }

std::string Sandbox::agent_vsock_uds() const {
  if (lease_) return lease_->vsock_uds();
  return own_vm_ ? own_vm_->vsock_uds() : std::string();
}

std::optional<agent::Network> Sandbox::network() const {
  if (!tap_) return std::nullopt;
  return agent::Network{"eth0", tap_->guest_address, tap_->prefix, tap_->host_address, tap_->mac};
}

Error Sandbox::Fail(const std::string& what) {
  agent_ = nullptr;
  if (own_vm_) return own_vm_->Fail(what);
  const std::string vm = lease_ ? lease_->vm() : "?";
  pooled_agent_.reset();
  lease_.reset();  // the pool stops the VM, and logs its console if it had ended
  return Error{what + " (the pool's utility VM " + vm + "; see " + pool_log_ + ")",
               ErrorCode::kGuestFailed};
}

void Sandbox::Stop() {
  agent_ = nullptr;
  pooled_agent_.reset();
  lease_.reset();
  if (own_vm_) own_vm_->Stop("the container exited");
  own_vm_.reset();
}

}  // namespace uvm::runtime
