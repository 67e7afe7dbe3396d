#include "vmm/utility_vm.h"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>

#include "devices/virtio/fs/fs_device.h"

namespace uvm::vmm {

Result<std::unique_ptr<UtilityVm>> UtilityVm::Start(UtilityVmSpec spec) {
  std::unique_ptr<UtilityVm> vm(new UtilityVm());
  if (spec.restore_dir.empty()) {
    UVM_TRY(vm->kernel_, Context(MappedFile::Open(spec.kernel), "guest kernel " + spec.kernel));
    UVM_TRY(vm->initrd_, Context(MappedFile::Open(spec.initrd), "initramfs " + spec.initrd));
  }
  vm->spec_ = std::move(spec);
  UtilityVm* raw = vm.get();
  vm->thread_ = std::thread([raw] {
    LinuxVmConfig config;
    if (raw->kernel_) {
      config.kernel = raw->kernel_->bytes();
      config.kernel_fd = raw->kernel_->fd();
      config.initrd = raw->initrd_->bytes();
    }
    config.restore_dir = raw->spec_.restore_dir;
    config.save_dir = raw->spec_.save_dir;
    config.cmdline = raw->spec_.cmdline;
    config.disks = raw->spec_.disks;
    config.nets = raw->spec_.nets;
    config.shares = raw->spec_.shares;
    config.on_shares = [raw](std::vector<std::shared_ptr<devices::virtio::fs::FsDevice>> shares) {
      std::lock_guard lock(raw->shares_mu_);
      raw->shares_ = std::move(shares);
    };
    config.vsock_uds = raw->spec_.vsock_uds;
    config.api_sock = raw->spec_.api_sock;
    config.memory_bytes = raw->spec_.memory_bytes;
    config.cpus = raw->spec_.cpus;
    config.console_in = -1;
    UniqueFd devnull;
    if (raw->spec_.console_fd < 0) devnull.Reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    config.console_out = raw->spec_.console_fd >= 0 ? raw->spec_.console_fd : devnull.get();
    config.stop_on_signals = false;
    config.latch = &raw->latch_;
    raw->result_ = RunLinuxVm(config);
    raw->finished_ = true;
  });
  return vm;
}

UtilityVm::~UtilityVm() {
  if (thread_.joinable()) {
    Stop("uvm is done with the VM");
    thread_.join();
  }
}

void UtilityVm::Stop(const std::string& why) { latch_.Report({ExitKind::kHostSignal, 0, why}); }

void UtilityVm::SaveAndStop() { latch_.Report({ExitKind::kSave, 0, "saving the VM"}); }

Result<void> UtilityVm::BindShare(size_t index, const devices::virtio::fs::ShareConfig& config) {
  std::shared_ptr<devices::virtio::fs::FsDevice> device;
  {
    std::lock_guard lock(shares_mu_);
    if (index < shares_.size()) device = shares_[index];
  }
  if (!device) {
    return Err(ErrorCode::kInvalidArgument,
               "the VM has no share " + std::to_string(index) + " to bind " + config.host_dir);
  }
  return device->Bind(config);
}

Result<LinuxVmResult> UtilityVm::Wait() {
  if (thread_.joinable()) thread_.join();
  if (!result_) return Err("the VM thread did not run");
  return *result_;
}

}  // namespace uvm::vmm
