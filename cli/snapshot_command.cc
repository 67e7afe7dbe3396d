#include "cli/snapshot_command.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/unique_fd.h"
#include "base/unix_socket.h"
#include "cli/boot_command.h"
#include "runtime/vm_shape.h"
#include "vmm/linux_vm.h"
#include "vmm/snapshot/snapshot.h"

namespace uvm::cli {
namespace {

Result<UniqueFd> ConnectControlSocket(const std::string& path) {
  UVM_TRY(sockaddr_un addr, Context(UnixSocketAddress(path), "--api-sock"));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoErr("socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
    return ErrnoErr("--api-sock " + path + ": connect (is `uvm boot --api-sock` running?)");
  }
  return fd;
}

}  // namespace

Result<int> RunSnapshotSave(const SnapshotSaveOptions& o) {
  // The VM resolves the directory in its own working directory: send an absolute one.
  std::error_code ec;
  const std::string dir = std::filesystem::absolute(o.dir, ec).lexically_normal().string();
  if (ec) return Err(o.dir + ": " + ec.message());
  UVM_TRY(UniqueFd fd, ConnectControlSocket(o.api_sock));
  const std::string request = "SAVE " + dir + "\n";
  size_t done = 0;
  while (done < request.size()) {
    ssize_t n = ::send(fd.get(), request.data() + done, request.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoErr("--api-sock " + o.api_sock + ": send");
    done += static_cast<size_t>(n);
  }
  // The answer comes once the VM is saved (seconds for a large guest): wait for the whole line.
  std::string answer;
  char buf[512];
  while (answer.find('\n') == std::string::npos) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoErr("--api-sock " + o.api_sock + ": read");
    if (n == 0) return Err("the VM closed its control socket without saving (see its stderr)");
    answer.append(buf, static_cast<size_t>(n));
  }
  answer.resize(answer.find('\n'));
  if (answer == "OK") return 0;
  constexpr std::string_view kError = "ERROR ";
  if (answer.starts_with(kError)) return Err(answer.substr(kError.size()));
  return Err("unexpected answer on the control socket: " + answer.substr(0, 200));
}

Result<int> RunSnapshotRestore(const SnapshotRestoreOptions& o) {
  // The shape is the snapshot's unless given (then it must match: RunLinuxVm refuses otherwise).
  UVM_TRY(vmm::snapshot::MachineLayout layout,
          Context(vmm::snapshot::ReadSnapshotLayout(o.dir), "snapshot " + o.dir));
  const uint64_t memory_mib = o.memory_mib ? o.memory_mib : layout.total_bytes() >> 20;
  const int cpus = o.cpus ? o.cpus : static_cast<int>(layout.vcpus);
  UVM_CHECK(runtime::ValidateVmShape(memory_mib, cpus));
  vmm::LinuxVmConfig config;
  config.restore_dir = o.dir;
  config.disks = o.disks;
  config.vsock_uds = o.vsock_uds;
  config.api_sock = o.api_sock;
  if (!o.net_tap.empty()) config.nets.push_back(o.net_tap);
  config.memory_bytes = memory_mib << 20;
  config.cpus = cpus;
  config.console_in = STDIN_FILENO;
  config.console_out = STDOUT_FILENO;
  UVM_TRY(vmm::LinuxVmResult r, Context(vmm::RunLinuxVm(config), "snapshot restore"));
  return ExitStatusOf(r);
}

}  // namespace uvm::cli
