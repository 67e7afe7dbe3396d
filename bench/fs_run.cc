#include "bench/fs_run.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
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
// goes away). While it runs, a watcher ends QEMU (`vmm`) if virtiofsd dies first: QEMU would
// otherwise wait for its vhost-user backend forever.
class Virtiofsd {
 public:
  static Result<std::unique_ptr<Virtiofsd>> Start(const FsRunConfig& c) {
    if (access(kVirtiofsd, X_OK) != 0) {
      return ErrnoErr(std::string(kVirtiofsd) + " (Debian's qemu-system-common)");
    }
    const std::string socket = c.scratch + "/virtiofsd-" + std::to_string(getpid()) + ".sock";
    unlink(socket.c_str());
    UVM_TRY(Spawned s, SpawnWithStdoutPipe({kVirtiofsd, "--socket-path=" + socket, "-o",
                                            "source=" + c.share + "," + kVirtiofsdOptions}));
    std::unique_ptr<Virtiofsd> d(new Virtiofsd(s.pid, socket));
    // It listens once it has set up its sandbox; QEMU fails at once on a missing socket.
    for (int i = 0; i < 200; ++i) {
      struct stat st;
      if (stat(socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return d;
      if (d->Exited()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return Err(std::string(kVirtiofsd) + " did not create its socket within 10 s");
  }
  ~Virtiofsd() {
    stop_ = true;
    if (watcher_.joinable()) watcher_.join();
    if (!Exited()) {
      kill(pid_, SIGTERM);
      (void)WaitProcess(pid_);
    }
    unlink(socket_.c_str());
  }
  void Watch(pid_t vmm) {
    watcher_ = std::thread([this, vmm] {
      while (!stop_) {
        if (Exited()) {
          died_ = true;
          kill(vmm, SIGKILL);
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
  }
  pid_t pid() const { return pid_; }
  const std::string& socket() const { return socket_; }
  bool died() const { return died_; }

 private:
  Virtiofsd(pid_t pid, std::string socket) : pid_(pid), socket_(std::move(socket)) {}
  // Reaps it if it has exited (one thread at a time: the watcher, or the owner once it stopped).
  bool Exited() {
    if (reaped_) return true;
    int status;
    reaped_ = waitpid(pid_, &status, WNOHANG) == pid_;
    return reaped_;
  }
  const pid_t pid_;
  const std::string socket_;
  std::atomic<bool> stop_{false}, died_{false}, reaped_{false};
  std::thread watcher_;
};

}  // namespace

Result<IoRunResult> RunFsGuest(FsVmm vmm, const FsRunConfig& c) {
  const std::string cmdline = GuestCmdline(c, vmm == FsVmm::kQemu9p);
  std::vector<std::string> argv;
  std::unique_ptr<Virtiofsd> virtiofsd;
  if (vmm == FsVmm::kUvm) {
    argv = {"/proc/self/exe", "boot",         "--kernel", c.guest.kernel,
            "--initrd",       c.guest.initrd, "--memory", std::to_string(c.memory_mib),
            "--cmdline",      cmdline,        "--share",  c.share + ",tag=" + kTag};
  } else {
    std::vector<std::string> devices;
    std::string machine = ",acpi=off";
    if (vmm == FsVmm::kQemuVirtiofsd) {
      UVM_TRY(virtiofsd, Virtiofsd::Start(c));
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
    // Modern virtio-mmio (microvm's default is the legacy interface, which vhost-user-fs refuses).
    devices.insert(devices.end(), {"-global", "virtio-mmio.force-legacy=false"});
    argv = QemuMicrovmArgv(c.guest, std::string(runtime::kBaseCmdline) + " " + cmdline,
                           c.memory_mib, machine, devices);
  }
  UVM_TRY(Spawned p, SpawnWithStdoutPipe(argv));
  const pid_t helper = virtiofsd ? virtiofsd->pid() : -1;
  if (virtiofsd) virtiofsd->Watch(p.pid);
  Result<PhaseLog> log = CollectPhases(
      p, [&] { return VmmCpuSeconds(p.pid) + (helper > 0 ? ProcessCpuSeconds(helper) : 0.0); });
  const bool virtiofsd_died = virtiofsd && virtiofsd->died();
  virtiofsd.reset();
  if (!log) return tl::unexpected(log.error());
  const std::string who = vmm == FsVmm::kUvm             ? "uvm"
                          : vmm == FsVmm::kQemuVirtiofsd ? "qemu microvm + virtiofsd"
                                                         : "qemu microvm + virtio-9p";
  if (virtiofsd_died) return Err(who + ": virtiofsd exited during the run (its stderr says why)");
  return FinishedPhases(std::move(*log), who, vmm != FsVmm::kUvm);
}

}  // namespace uvm::bench
