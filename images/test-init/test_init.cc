// PID 1 of the test and benchmark initramfs: a static program that does one thing chosen on the
// kernel command line (`uvmtest=MODE`; Linux hands unknown key=value parameters to init as
// environment variables) and then ends the VM. Output goes to /dev/console.
//
//   bench     as its first act write "UVMBENCH" to the console (the benchmark's marker: init
//   reached
//             user space), then power off through the debug-exit port
//   info      print "UVMTEST cpus=N mem_kb=M" and power off through the debug-exit port
//   exit=N    power off with status N through the debug-exit port
//   reboot    reboot(2): Linux resets through the i8042, uvm ends with 0
//   panic     return from PID 1: the kernel panics ("Attempted to kill init")
//   uptime    print "UVMTEST uptime=SECONDS" (guest time to reach init) and power off
//   disk      read sector 0 of /dev/vda and print its first 16 bytes; write "UVMDISK-GUEST"
//             to sector 1, fsync, print whether that worked; power off
//   pattern   write 64 MiB of a known pattern (byte i of 4 KiB block b is (b * 7 + i) & 0xff) to
//             /dev/vda, fsync, print "UVMTEST pattern flushed", then wait: the host kills the VMM
//   twodisks  print the first 16 bytes of /dev/vda and of /dev/vdb, power off
//   echo      read one line from the console and print "UVMTEST echo: LINE", then power off
//   capacity  print /dev/vda's size in sectors, "UVMTEST capacity waiting", then wait (up to 60 s)
//             for the host to resize the image and print "UVMTEST capacity now N"; power off
//   vsock     vsock echo server and guest-to-host echo (see vsock_mode.h), power off when told
//   net       TCP both ways over eth0 (virtio-net; see net_mode.h), power off
//   fs        the operations of a virtio-fs share, step by step (see fs_mode.h), power off
//   iobench   block and vsock throughput for `uvm bench io` (see iobench_mode.h), power off
//   fsbench   a shared directory's throughput for `uvm bench fs` (see fsbench_mode.h), power off
//   tick      print "UVMTEST tick N" every 5 ms (guest time) for up to 10 minutes, then power off:
//             `uvm bench clone` times a QEMU restore of this guest to its next tick
#include <fcntl.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fs_mode.h"
#include "fsbench_mode.h"
#include "iobench_mode.h"
#include "net_mode.h"
#include "vsock_mode.h"

namespace {

constexpr unsigned short kDebugExitPort = 0xf4;

[[noreturn]] void PowerOff(int status) {
  std::fflush(stdout);
  // write() returns once the bytes are in the tty buffer; the UART sends them later, by interrupt.
  // Wait until they are out, or powering off would cut them.
  tcdrain(STDOUT_FILENO);
  if (ioperm(kDebugExitPort, 1, 1) == 0) outb(static_cast<unsigned char>(status), kDebugExitPort);
  std::printf("UVMTEST debug-exit port did not end the VM\n");
  std::fflush(stdout);
  for (;;) pause();
}

long MemTotalKb() {
  FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "MemTotal: %ld kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb;
}

void OpenConsole() {
  int fd = open("/dev/console", O_RDWR);
  if (fd < 0) return;
  dup2(fd, 0);
  dup2(fd, 1);
  dup2(fd, 2);
  if (fd > 2) close(fd);
}

}  // namespace

int main() {
  const char* mode_env = std::getenv("uvmtest");
  std::string mode = mode_env ? mode_env : "info";
  if (mode == "bench") {
    // First thing, before any other work: this write is the measured moment. The kernel already
    // opened /dev/console as fds 0-2 for init.
    constexpr char kMarker[] = "UVMBENCH\n";
    ssize_t unused = write(STDOUT_FILENO, kMarker, sizeof kMarker - 1);
    (void)unused;
    PowerOff(0);
  }

  mkdir("/dev", 0755);
  mount("devtmpfs", "/dev", "devtmpfs", 0, nullptr);
  OpenConsole();
  mkdir("/proc", 0555);
  mount("proc", "/proc", "proc", 0, nullptr);

  if (mode == "info") {
    std::printf("UVMTEST cpus=%ld mem_kb=%ld\n", sysconf(_SC_NPROCESSORS_ONLN), MemTotalKb());
    PowerOff(0);
  }
  if (mode == "uptime") {
    FILE* f = std::fopen("/proc/uptime", "r");
    char buf[64] = "?";
    if (f && std::fgets(buf, sizeof buf, f)) buf[std::strcspn(buf, " \n")] = 0;
    if (f) std::fclose(f);
    std::printf("UVMTEST uptime=%s\n", buf);
    PowerOff(0);
  }
  if (mode == "disk") {
    int fd = open("/dev/vda", O_RDWR);
    bool writable = fd >= 0;
    if (!writable) fd = open("/dev/vda", O_RDONLY);
    if (fd < 0) {
      std::printf("UVMTEST disk: cannot open /dev/vda: %s\n", std::strerror(errno));
      PowerOff(4);
    }
    char sector[512] = {};
    ssize_t n = pread(fd, sector, sizeof sector, 0);
    std::printf("UVMTEST disk read %zd: %.16s\n", n, sector);
    if (!writable) {
      std::printf("UVMTEST disk write: refused at open\n");
      PowerOff(0);
    }
    std::memset(sector, 0, sizeof sector);
    std::strcpy(sector, "UVMDISK-GUEST");
    bool ok = pwrite(fd, sector, sizeof sector, 512) == 512 && fsync(fd) == 0;
    std::printf("UVMTEST disk write: %s\n", ok ? "ok" : std::strerror(errno));
    PowerOff(0);
  }
  if (mode == "pattern") {
    int fd = open("/dev/vda", O_WRONLY);
    if (fd < 0) {
      std::printf("UVMTEST pattern: cannot open /dev/vda: %s\n", std::strerror(errno));
      PowerOff(4);
    }
    static char block[1 << 20];
    for (int mib = 0; mib < 64; ++mib) {
      for (int i = 0; i < (1 << 20); ++i) {
        int b = mib * 256 + i / 4096;
        block[i] = static_cast<char>((b * 7 + i % 4096) & 0xff);
      }
      if (write(fd, block, sizeof block) != sizeof block) {
        std::printf("UVMTEST pattern: write failed: %s\n", std::strerror(errno));
        PowerOff(5);
      }
    }
    if (fsync(fd) != 0) {
      std::printf("UVMTEST pattern: fsync failed: %s\n", std::strerror(errno));
      PowerOff(6);
    }
    std::printf("UVMTEST pattern flushed\n");
    std::fflush(stdout);
    tcdrain(STDOUT_FILENO);
    for (;;) pause();
  }
  if (mode == "twodisks") {
    for (const char* dev : {"/dev/vda", "/dev/vdb"}) {
      char head[17] = {};
      int fd = open(dev, O_RDONLY);
      ssize_t n = fd >= 0 ? pread(fd, head, 16, 0) : -1;
      std::printf("UVMTEST %s %zd: %s\n", dev, n, head);
    }
    PowerOff(0);
  }
  if (mode.rfind("exit=", 0) == 0) PowerOff(std::atoi(mode.c_str() + 5));
  if (mode == "reboot") {
    std::printf("UVMTEST rebooting\n");
    std::fflush(stdout);
    sync();
    reboot(RB_AUTOBOOT);
    PowerOff(3);  // reboot(2) returned: report failure distinctly
  }
  if (mode == "panic") {
    std::printf("UVMTEST init exits now\n");
    std::fflush(stdout);
    return 0;
  }
  if (mode == "tick") {
    for (unsigned n = 0; n < 120000; ++n) {
      std::printf("UVMTEST tick %u\n", n);
      std::fflush(stdout);
      usleep(5 * 1000);
    }
    PowerOff(0);
  }
  if (mode == "echo") {
    char line[256] = {};
    if (std::fgets(line, sizeof line, stdin)) {
      line[std::strcspn(line, "\r\n")] = 0;
      std::printf("UVMTEST echo: %s\n", line);
    }
    PowerOff(0);
  }
  if (mode == "capacity") {
    auto sectors = [] {
      FILE* f = std::fopen("/sys/block/vda/size", "r");
      long long n = -1;
      if (f && std::fscanf(f, "%lld", &n) != 1) n = -1;
      if (f) std::fclose(f);
      return n;
    };
    mkdir("/sys", 0555);
    mount("sysfs", "/sys", "sysfs", 0, nullptr);
    const long long before = sectors();
    std::printf("UVMTEST capacity %lld\nUVMTEST capacity waiting\n", before);
    std::fflush(stdout);
    long long now = before;
    for (int i = 0; i < 600 && now == before; ++i) {
      usleep(100 * 1000);
      now = sectors();
    }
    std::printf("UVMTEST capacity now %lld\n", now);
    PowerOff(0);
  }
  if (mode == "vsock") PowerOff(vsock_mode::Run());
  if (mode == "net") PowerOff(net_mode::Run());
  if (mode == "fs") PowerOff(fs_mode::Run());
  if (mode == "iobench") PowerOff(iobench_mode::Run());
  if (mode == "fsbench") PowerOff(fsbench_mode::Run());
  std::printf("UVMTEST unknown mode '%s'\n", mode.c_str());
  PowerOff(2);
}
