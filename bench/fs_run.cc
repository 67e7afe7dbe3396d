#include "bench/fs_run.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/paths.h"

namespace uvm::bench {
namespace {

constexpr char kTag[] = "bench";

std::string GuestCmdline(const FsRunConfig& c, bool nine_p) {
  return std::string("quiet uvmtest=fsbench uvmfs_type=") + (nine_p ? "9p" : "virtiofs") +
         " uvmfs_mib=" + std::to_string(c.mib) + " uvmfs_files=" + std::to_string(c.files);
}

// virtiofsd serving the share on a vhost-user socket until it is stopped (or its one client, QEMU,
// goes away).
class Virtiofsd {
 public:
  static Result<Virtiofsd> Start(const FsRunConfig& c) {
    if (access(kVirtiofsd, X_OK) != 0) {
      return ErrnoErr(std::string(kVirtiofsd) + " (Debian's qemu-system-common)");
    }
    Virtiofsd d;
    d.socket_ = c.scratch + "/virtiofsd-" + std::to_string(getpid()) + ".sock";
    unlink(d.socket_.c_str());
    UVM_TRY(Spawned s, SpawnWithStdoutPipe({kVirtiofsd, "--socket-path=" + d.socket_, "-o",
                                            "source=" + c.share + "," + kVirtiofsdOptions}));
    d.pid_ = s.pid;
    // It listens once it has set up its sandbox; QEMU fails at once on a missing socket.
    for (int i = 0; i < 200; ++i) {
      struct stat st;
      if (stat(d.socket_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return d;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return Err(std::string(kVirtiofsd) + " did not create its socket within 10 s");
  }
  Virtiofsd(Virtiofsd&& o) noexcept
      : pid_(std::exchange(o.pid_, -1)), socket_(std::move(o.socket_)) {}
  ~Virtiofsd() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      (void)WaitProcess(pid_);
    }
    if (!socket_.empty()) unlink(socket_.c_str());
  }
  pid_t pid() const { return pid_; }
  const std::string& socket() const { return socket_; }

 private:
  Virtiofsd() = default;
  pid_t pid_ = -1;
  std::string socket_;
};

}  // namespace

Result<IoRunResult> RunFsGuest(FsVmm vmm, const FsRunConfig& c) {
  const std::string cmdline = GuestCmdline(c, vmm == FsVmm::kQemu9p);
  std::vector<std::string> argv;
  std::optional<Virtiofsd> virtiofsd;
  if (vmm == FsVmm::kUvm) {
    argv = {"/proc/self/exe", "boot",         "--kernel", c.guest.kernel,
            "--initrd",       c.guest.initrd, "--memory", std::to_string(c.memory_mib),
            "--cmdline",      cmdline,        "--share",  c.share + ",tag=" + kTag};
  } else {
    std::vector<std::string> devices;
    std::string machine = ",acpi=off";
    if (vmm == FsVmm::kQemuVirtiofsd) {
      UVM_TRY(Virtiofsd d, Virtiofsd::Start(c));
      virtiofsd.emplace(std::move(d));
      machine += ",memory-backend=mem";
      devices = {"-object",
                 "memory-backend-memfd,id=mem,share=on,size=" + std::to_string(c.memory_mib) + "M",
                 "-chardev",
                 "socket,id=vfs,path=" + virtiofsd->socket(),
                 "-device",
                 std::string("vhost-user-fs-device,chardev=vfs,tag=") + kTag};
    } else {
      devices = {"-fsdev", "local,id=f0,path=" + c.share + "," + kQemu9pOptions, "-device",
                 std::string("virtio-9p-device,fsdev=f0,mount_tag=") + kTag};
    }
    argv = QemuMicrovmArgv(c.guest, std::string(runtime::kBaseCmdline) + " " + cmdline,
                           c.memory_mib, machine, devices);
  }
  UVM_TRY(Spawned p, SpawnWithStdoutPipe(argv));
  const pid_t helper = virtiofsd ? virtiofsd->pid() : -1;
  Result<PhaseLog> log = CollectPhases(
      p, [&] { return VmmCpuSeconds(p.pid) + (helper > 0 ? ProcessCpuSeconds(helper) : 0.0); });
  virtiofsd.reset();
  if (!log) return tl::unexpected(log.error());
  const std::string who = vmm == FsVmm::kUvm             ? "uvm"
                          : vmm == FsVmm::kQemuVirtiofsd ? "qemu microvm + virtiofsd"
                                                         : "qemu microvm + virtio-9p";
  return FinishedPhases(std::move(*log), who, vmm != FsVmm::kUvm);
}

}  // namespace uvm::bench
