// PID 1 of the lab's L1 kernel. It turns L1 into a place where one host command runs: the host's
// root arrives over virtio-9p and becomes the root of the command, with L1's own /dev (holding a
// /dev/kvm with real hardware-virtualization semantics), /proc and /sys bound over the host's. The
// command's stdio travels over virtio-serial ports and its exit status ends QEMU; see
// lab_protocol.h for the protocol and the reasons behind it.
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "protocol.h"

namespace {

namespace lab = uvm::lab;

// 9p cache mode. `loose` caches pages and attributes in L1: under software emulation every 9p
// round trip is expensive, and a command run from the share (a test binary, the shared libraries,
// python) is read far more than written. It is correct here because nothing else changes the
// shared files while the lab runs, and dirty pages reach the host at the sync() before L1 reports
// the exit status. It also supports shared writable mmap, which cache=none does not.
constexpr char k9pOptions[] = "trans=virtio,version=9p2000.L,msize=512000,cache=loose";
constexpr auto kPortTimeout = std::chrono::seconds(10);
constexpr int kAckTimeoutMs = 10000;
// After the command exits, everything it left behind is killed; this bounds the wait for their
// output to drain (a process stuck in uninterruptible sleep would otherwise hold a pipe forever).
constexpr int kStragglerTimeoutMs = 5000;

int g_ctl = -1;  // the kCtlPort once open; frames and the ack travel on it

void Console(const std::string& line) {
  std::string s = "uvm-lab: " + line + "\n";
  (void)!write(STDERR_FILENO, s.data(), s.size());
}

// Ends QEMU through isa-debug-exit. Filesystems are synced first: writes to the 9p share sit in
// L1's page cache (cache=loose) until then.
[[noreturn]] void EndQemu(uint8_t value) {
  sync();
  if (ioperm(lab::kDebugExitPort, 4, 1) == 0) outb(value, lab::kDebugExitPort);
  // Without the debug-exit device, a reboot ends QEMU too (the host runs it with -no-reboot).
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}

bool WriteAll(int fd, const void* data, size_t size) {
  auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool SendFrame(lab::Frame type, const void* payload, size_t size) {
  if (g_ctl < 0) return false;
  unsigned char header[lab::kFrameHeaderSize] = {static_cast<unsigned char>(type)};
  for (int i = 0; i < 4; ++i) header[1 + i] = static_cast<unsigned char>(size >> (8 * i));
  return WriteAll(g_ctl, header, sizeof header) && WriteAll(g_ctl, payload, size);
}

// Waits until the host has read everything before the final frame (see protocol.h). Pokes
// keep arriving meanwhile and are skipped.
void WaitForAck() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kAckTimeoutMs);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p = {g_ctl, POLLIN, 0};
    char c;
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) != 1) break;
    if (read(g_ctl, &c, 1) != 1) break;
    if (c == lab::kAck) return;
  }
  Console("no acknowledgement from the host; ending anyway");
}

// Reads and drops what the host wrote on the control port before the ack: its pokes, whose whole
// purpose is the interrupt their arrival raised. Returns false once the port is closed.
bool DropPokes() {
  char buf[256];
  ssize_t n = read(g_ctl, buf, sizeof buf);
  return n > 0 || (n < 0 && errno == EINTR);
}

[[noreturn]] void Fail(const std::string& what) {
  std::string line = std::string(lab::kConsoleFailurePrefix) + what + "\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
  if (SendFrame(lab::Frame::kLabFailure, what.data(), what.size())) WaitForAck();
  EndQemu(lab::kDebugExitLabFailure);
}

[[noreturn]] void FailErrno(const std::string& what) { Fail(what + ": " + strerror(errno)); }

void Mount(const char* source, const char* target, const char* type, unsigned long flags,
           const char* data) {
  if (mkdir(target, 0755) != 0 && errno != EEXIST) FailErrno(std::string("mkdir ") + target);
  if (mount(source, target, type, flags, data) != 0) {
    FailErrno(std::string("mount ") + (type ? type : source) + " on " + target);
  }
}

std::string ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) FailErrno("open " + path);
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  if (n < 0) FailErrno("read " + path);
  close(fd);
  return s;
}

std::vector<std::string> SplitNul(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t end; (end = s.find('\0', start)) != std::string::npos; start = end + 1) {
    out.push_back(s.substr(start, end - start));
  }
  return out;
}

std::string JobDir() {
  std::string cmdline = ReadFile("/proc/cmdline");
  for (size_t pos = 0; pos < cmdline.size();) {
    size_t end = cmdline.find_first_of(" \n", pos);
    if (end == std::string::npos) end = cmdline.size();
    std::string word = cmdline.substr(pos, end - pos);
    if (word.rfind(lab::kJobParam, 0) == 0) return word.substr(strlen(lab::kJobParam));
    pos = end + 1;
  }
  Fail(std::string("no ") + lab::kJobParam + " on the kernel command line");
}

// Ports appear after the virtio-serial driver has probed and the host has announced them and
// their names over the control queue, which can be after init starts: poll sysfs for the name.
int OpenPort(const std::string& name, int flags) {
  auto deadline = std::chrono::steady_clock::now() + kPortTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (DIR* dir = opendir("/sys/class/virtio-ports")) {
      while (dirent* e = readdir(dir)) {
        std::string dev = e->d_name;
        if (dev[0] == '.') continue;
        int fd = open(("/sys/class/virtio-ports/" + dev + "/name").c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        char buf[64] = {};
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0 || std::string(buf, strcspn(buf, "\n")) != name) continue;
        closedir(dir);
        int port = open(("/dev/" + dev).c_str(), flags | O_CLOEXEC);
        if (port < 0) FailErrno("open /dev/" + dev + " (port " + name + ")");
        return port;
      }
      closedir(dir);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Fail("virtio-serial port " + name + " did not appear (is QEMU missing the virtserialport?)");
}

// Tests may talk to servers on 127.0.0.1; nothing else in L1 brings the loopback interface up.
void LoopbackUp() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr = {};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0) FailErrno("lo: get flags");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) FailErrno("lo: set up");
  close(s);
}

// A pure cgroup v2 hierarchy, as on a host booted with systemd's unified layout: engines (podman,
// containerd) and runc in the lab create their containers' cgroups under it. The controllers are
// handed down from the root as systemd does, so runc can enable them for each container; one
// the kernel lacks is skipped, and runc reports it if a container asks for it.
void SetUpCgroups(const char* at) {
  Mount("cgroup2", at, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "nsdelegate");
  const std::string control = std::string(at) + "/cgroup.subtree_control";
  int fd = open(control.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) FailErrno("open " + control);
  // One write per controller: a write naming one the kernel lacks fails whole.
  for (const char* controller : {"+cpuset", "+cpu", "+io", "+memory", "+pids"}) {
    (void)!write(fd, controller, strlen(controller));
  }
  close(fd);
}

// The host's root at /host with L1's kernel interfaces over the host's: the command sees the
// host's files but L1's devices (/dev/kvm), processes and sysfs. /run is private to the lab so
// sockets and pid files made inside do not land in (or collide with) the host's /run.
void SetUpRoot() {
  Mount("host", "/host", "9p", 0, k9pOptions);
  Mount("/dev", "/host/dev", nullptr, MS_BIND | MS_REC, nullptr);
  Mount("/proc", "/host/proc", nullptr, MS_BIND, nullptr);
  Mount("/sys", "/host/sys", nullptr, MS_BIND, nullptr);
  Mount("tmpfs", "/host/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  SetUpCgroups("/host/sys/fs/cgroup");
}

// Makes `dir` the root as an initramfs's switch_root does: moved over "/" and chrooted into, not
// only chrooted. A process joining a mount namespace (setns, as `runc exec` joins a
// container's) gets that namespace's root mount, followed down through what is mounted on it;
// after a plain chroot that was the initramfs, so `runc exec` found no /bin/sh.
void SwitchRoot(const char* dir) {
  if (chdir(dir) != 0) FailErrno(std::string("chdir ") + dir);
  if (mount(dir, "/", nullptr, MS_MOVE, nullptr) != 0) FailErrno(std::string("move ") + dir);
  if (chroot(".") != 0) FailErrno("chroot");
  if (chdir("/") != 0) FailErrno("chdir /");
}

struct Job {
  std::vector<std::string> argv, env;
  std::string cwd;
};

Job ReadJob(const std::string& dir) {
  Job job;
  job.argv = SplitNul(ReadFile(dir + "/" + lab::kArgvFile));
  job.env = SplitNul(ReadFile(dir + "/" + lab::kEnvFile));
  job.cwd = ReadFile(dir + "/" + lab::kCwdFile);
  if (job.argv.empty()) Fail("the job in " + dir + " has an empty command");
  return job;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Runs in the child: exec the command like a shell would, including the shell's 127/126 codes.
[[noreturn]] void Exec(Job& job, int in, int out, int err) {
  if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0) {
    _exit(126);
  }
  setsid();
  std::vector<char*> argv = CStrings(job.argv), env = CStrings(job.env);
  environ = env.data();  // execvp searches the job's PATH, not init's
  execvp(argv[0], argv.data());
  int code = errno == ENOENT ? 127 : 126;
  dprintf(STDERR_FILENO, "uvm lab: %s: %s\n", argv[0], strerror(errno));
  _exit(code);
}

// Relays the command's stdout and stderr as frames until it has exited and its output is drained.
// Returns its status as a shell reports it: the exit code, or 128 + the signal that killed it.
int Relay(pid_t child, int out, int err) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, child, 0));
  if (pidfd < 0) FailErrno("pidfd_open");
  pollfd fds[4] = {{out, POLLIN, 0}, {err, POLLIN, 0}, {pidfd, POLLIN, 0}, {g_ctl, POLLIN, 0}};
  const lab::Frame types[2] = {lab::Frame::kStdout, lab::Frame::kStderr};
  static char buf[lab::kMaxFramePayload];
  int status = -1;
  auto reap = [&] {
    int ws;
    while (waitpid(child, &ws, 0) < 0 && errno == EINTR) {
    }
    status = WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : WEXITSTATUS(ws);
    // The command is over: end whatever it left running, as the end of a VM would.
    kill(-1, SIGKILL);
    close(pidfd);
    fds[2].fd = -1;
    fds[3].fd = -1;  // pokes would keep resetting the stragglers' timeout; WaitForAck skips them
  };
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    int n = poll(fds, 4, status < 0 ? -1 : kStragglerTimeoutMs);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) FailErrno("poll");
    if (n == 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r > 0) {
        if (!SendFrame(types[i], buf, static_cast<size_t>(r))) {
          g_ctl = -1;
          FailErrno("writing to the host's control port");
        }
        continue;
      }
      close(fds[i].fd);
      fds[i].fd = -1;
    }
    if (fds[2].fd >= 0 && fds[2].revents) reap();
    if (fds[3].fd >= 0 && fds[3].revents && !DropPokes()) fds[3].fd = -1;
  }
  if (status < 0) reap();  // the command closed its stdout and stderr before exiting
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  return status;
}

}  // namespace

int main() {
  // The initramfs holds only /init, so /dev/console exists only once devtmpfs is mounted.
  mkdir("/dev", 0755);
  mount("devtmpfs", "/dev", "devtmpfs", 0, nullptr);
  int console = open("/dev/console", O_RDWR);
  for (int fd = 0; fd < 3 && console >= 0; ++fd) dup2(console, fd);
  if (console > 2) close(console);

  Mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  Mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  Mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666");
  Mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  g_ctl = OpenPort(lab::kCtlPort, O_RDWR);
  sethostname("uvm-lab", 7);
  LoopbackUp();

  std::string job_dir = JobDir();
  SetUpRoot();
  Job job = ReadJob("/host" + job_dir);
  int in = OpenPort(lab::kStdinPort, O_RDONLY);
  SwitchRoot("/host");
  if (chdir(job.cwd.c_str()) != 0) FailErrno("chdir " + job.cwd);

  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) FailErrno("pipe");
  Console("running " + job.argv[0]);
  pid_t child = fork();
  if (child < 0) FailErrno("fork");
  if (child == 0) Exec(job, in, out[1], err[1]);
  close(in);
  close(out[1]);
  close(err[1]);

  int status = Relay(child, out[0], err[0]);
  sync();  // the host may look at the command's files as soon as it has the status
  unsigned char payload[4];
  for (int i = 0; i < 4; ++i) payload[i] = static_cast<unsigned char>(status >> (8 * i));
  if (!SendFrame(lab::Frame::kExit, payload, sizeof payload)) {
    g_ctl = -1;
    FailErrno("writing the exit status to the host");
  }
  WaitForAck();
  EndQemu(static_cast<uint8_t>(status));
}
