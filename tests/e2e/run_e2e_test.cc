// e2e for `uvm run` (issue 4): a real utility VM with the guest agent as PID 1 runs commands from
// the built-in busybox image. Each test is one or a few `uvm run`s; in the lab every run boots a
// VM, so the tests stay few and each checks several things. Skipped (reported as not run) where
// this host's KVM cannot run Linux.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "base/sha256.h"
#include "base/unique_fd.h"
#include "tests/e2e/linux_guests.h"
#include "tests/support/background_process.h"
#include "tests/support/process.h"
#include "tests/support/scratch_root.h"

namespace {

using uvm::UniqueFd;
using uvm::testing::BackgroundProcess;
using uvm::testing::ProcessResult;
using uvm::testing::RunProcess;

std::string Sha256(const std::string& data) { return uvm::Sha256Hex(data); }

class RunE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { root_ = uvm::testing::MakeScratchRoot("run-e2e"); }
  static void TearDownTestSuite() { uvm::testing::RemoveScratchRoot(root_); }
  void SetUp() override {
    UVM_SKIP_UNLESS_LINUX_GUESTS();
    ASSERT_FALSE(root_.empty());
  }
  std::vector<std::string> Argv(const std::vector<std::string>& run_args) {
    std::vector<std::string> argv = {UVM_BINARY, "--root", root_, "run"};
    argv.insert(argv.end(), run_args.begin(), run_args.end());
    return argv;
  }
  ProcessResult Run(const std::vector<std::string>& run_args, const std::string& stdin_data = "") {
    // Below ctest's 600 s, so a stalled run fails here with what it printed so far.
    ProcessResult r = RunProcess(Argv(run_args), stdin_data, 240);
    EXPECT_FALSE(r.timed_out) << "uvm run timed out; stdout so far: " << r.out.size()
                              << " bytes; stderr: " << r.err;
    return r;
  }
  static std::string root_;
};
std::string RunE2eTest::root_;

TEST_F(RunE2eTest, EchoPrintsFromInsideTheVm) {
  ProcessResult r = Run({"busybox", "--", "echo", "hi"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hi\n") << r.err;
}

// What `make install` lays out (images/install.sh, here into a scratch prefix) runs on its own:
// the installed uvm finds its kernel, agent and busybox image in PREFIX/lib/uvm/images, and
// uvm-runtime beside it is the same binary taking runc's command line.
TEST_F(RunE2eTest, AnInstalledUvmFindsItsImages) {
  const std::string build = std::string(UVM_BINARY).substr(0, std::string(UVM_BINARY).rfind('/'));
  const std::string prefix = root_ + "/installed";
  ProcessResult install =
      RunProcess({std::string(UVM_SOURCE_DIR) + "/images/install.sh", build, prefix}, "", 120);
  ASSERT_EQ(install.exit_code, 0) << install.err;
  ProcessResult r = RunProcess(
      {prefix + "/bin/uvm", "--root", root_, "run", "busybox", "--", "echo", "installed"}, "", 240);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "installed\n") << r.err;
  ProcessResult version = RunProcess({prefix + "/bin/uvm-runtime", "--version"}, "", 30);
  EXPECT_EQ(version.out.rfind("uvm-runtime version ", 0), 0u) << version.out << version.err;
}

TEST_F(RunE2eTest, ExitCodesPassThrough) {
  EXPECT_EQ(Run({"busybox", "true"}).exit_code, 0);
  EXPECT_EQ(Run({"busybox", "sh", "-c", "exit 1"}).exit_code, 1);
  EXPECT_EQ(Run({"busybox", "sh", "-c", "exit 42"}).exit_code, 42);
  ProcessResult missing = Run({"busybox", "no-such-command"});
  EXPECT_EQ(missing.exit_code, 127) << missing.err;
  EXPECT_NE(missing.err.find("no-such-command"), std::string::npos) << missing.err;
  ProcessResult not_exec = Run({"busybox", "/etc/passwd"});
  EXPECT_EQ(not_exec.exit_code, 126) << not_exec.err;
  // 137 for a process killed by SIGKILL: see SignalsReachTheProcessAndASecondOneKillsIt (the
  // process is PID 1 of its namespace, so it cannot SIGKILL itself, as in docker).
}

TEST_F(RunE2eTest, TenMiBThroughCatComeBackIdentical) {
  std::mt19937 rng(7);
  std::string data(10 << 20, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  ProcessResult r = Run({"-i", "busybox", "cat"}, data);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.size(), data.size());
  EXPECT_EQ(Sha256(r.out), Sha256(data));
}

TEST_F(RunE2eTest, LargeAndInterleavedOutputArrivesCompleteOnTheRightStreams) {
  ProcessResult big = Run({"busybox", "head", "-c", "52428800", "/dev/zero"});
  EXPECT_EQ(big.exit_code, 0) << big.err;
  EXPECT_EQ(big.out.size(), 52428800u);
  EXPECT_EQ(big.out.find_first_not_of('\0'), std::string::npos);

  ProcessResult mixed = Run({"busybox", "sh", "-c",
                             "i=1; while [ $i -le 2000 ]; do echo out$i; echo err$i >&2; "
                             "i=$((i+1)); done"});
  EXPECT_EQ(mixed.exit_code, 0) << mixed.err;
  std::string want_out, want_err;
  for (int i = 1; i <= 2000; ++i) {
    want_out += "out" + std::to_string(i) + "\n";
    want_err += "err" + std::to_string(i) + "\n";
  }
  EXPECT_EQ(mixed.out, want_out);
  EXPECT_EQ(mixed.err, want_err);
}

// The image's directories can be removed and made again, as in any container: overlayfs marks the
// new one opaque with an xattr on the upper layer (a tmpfs), and without that `rm -rf /etc` fails
// with EIO.
TEST_F(RunE2eTest, ImageDirectoriesCanBeRemovedAndMadeAgain) {
  ProcessResult r = Run({"busybox", "sh", "-c",
                         "rm -rf /etc && mkdir /etc && echo new > /etc/x && ls -A /etc && "
                         "rm -r /usr && ls /usr 2>/dev/null || echo usr-gone"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "x\nusr-gone\n") << r.err;
}

TEST_F(RunE2eTest, EnvWorkdirUserAndImageDefaults) {
  setenv("UVM_E2E_PASSED", "from-host", 1);
  ProcessResult r =
      Run({"-e", "FOO=bar", "-e", "UVM_E2E_PASSED", "-w", "/tmp", "--user", "65534", "busybox",
           "sh", "-c", "echo $FOO $UVM_E2E_PASSED; pwd; id -u; echo $PATH"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "bar from-host\n/tmp\n65534\n"
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
      << r.err;
  // No command: the image's Cmd (sh) reads its script from stdin.
  ProcessResult sh = Run({"-i", "busybox"}, "echo from-default-cmd; pwd\n");
  EXPECT_EQ(sh.exit_code, 0) << sh.err;
  EXPECT_EQ(sh.out, "from-default-cmd\n/\n") << sh.err;
}

TEST_F(RunE2eTest, TtyGivesTheProcessATerminalAndRestoresOurs) {
  // script(1) runs the command on a pseudo-terminal: uvm sees a terminal on stdin and stdout.
  const std::string cmd = "stty -g; " + std::string(UVM_BINARY) + " --root " + root_ +
                          " run -t busybox sh -c 'tty; stty size'; stty -g";
  ProcessResult r = RunProcess({"script", "-qec", cmd, "/dev/null"}, "", 600);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("/dev/pts/"), std::string::npos) << r.out;
  // The first and last lines are the host terminal's settings before and after: unchanged.
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < r.out.size()) {
    size_t nl = r.out.find('\n', start);
    std::string line = r.out.substr(start, nl == std::string::npos ? nl : nl - start);
    while (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  ASSERT_GE(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines.front(), lines.back()) << r.out;
}

// --isolation process: the same image, command, stdio, flags and exit status, but the container's
// processes are the host's (under runc): the host finds its sleep. Its writes outside volumes
// go with the run, as in a VM, and the run leaves no mount or directory behind.
TEST_F(RunE2eTest, ProcessIsolationRunsTheSameContainerAsHostProcesses) {
  if (!uvm::FindInPath("runc")) GTEST_SKIP() << "runc is not installed (make deps installs it)";
  auto in_processes = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"--isolation", "process"});
    return args;
  };
  ProcessResult r = Run(in_processes({"busybox", "sh", "-c", "echo out; echo err >&2; exit 7"}));
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "out\n");
  EXPECT_NE(r.err.find("err"), std::string::npos) << r.err;
  // docker's statuses for a command that cannot start, as in a VM.
  ProcessResult missing = Run(in_processes({"busybox", "no-such-command"}));
  EXPECT_EQ(missing.exit_code, 127) << missing.err;
  EXPECT_NE(missing.err.find("no-such-command"), std::string::npos) << missing.err;
  EXPECT_EQ(Run(in_processes({"busybox", "/etc/passwd"})).exit_code, 126);
  ProcessResult cat = Run(in_processes({"-i", "busybox", "sh", "-c", "cat; echo done"}), "line\n");
  EXPECT_EQ(cat.out, "line\ndone\n") << cat.err;
  ProcessResult flags = Run(in_processes({"-e", "K=V", "-w", "/tmp", "-u", "1000:1001", "busybox",
                                          "sh", "-c", "echo $K; pwd; id -u; id -g"}));
  EXPECT_EQ(flags.out, "V\n/tmp\n1000\n1001\n") << flags.err;

  const std::string volume = root_ + "/process-volume";
  ASSERT_TRUE(uvm::MakeDirs(volume));
  ProcessResult vol =
      Run(in_processes({"-v", volume + ":/data", "busybox", "sh", "-c",
                        "echo kept > /data/f && echo gone > /etc/f && cat /etc/f"}));
  EXPECT_EQ(vol.out, "gone\n") << vol.err;
  EXPECT_EQ(uvm::ReadFileLimited(volume + "/f", 100).value_or(""), "kept\n");
  EXPECT_NE(Run(in_processes({"busybox", "cat", "/etc/f"})).exit_code, 0)
      << "a write outside the volumes outlived its run";
  ProcessResult limit =
      Run(in_processes({"--memory", "300", "busybox", "cat", "/sys/fs/cgroup/memory.max"}));
  EXPECT_EQ(limit.out, "314572800\n") << limit.err;
  // One container in either isolation: the same runtime config (crun in the VM, runc on the
  // host), so the same capabilities (docker's), masked paths, namespaces and hostname length.
  const std::vector<std::string> inside = {
      "busybox", "sh", "-c",
      "grep -E '^Cap(Eff|Bnd)' /proc/self/status; wc -c < /proc/kcore; ls /proc/self/ns | wc -l; "
      "hostname | wc -c"};
  ProcessResult in_vm = Run(inside);
  ProcessResult on_host = Run(in_processes(inside));
  EXPECT_EQ(in_vm.exit_code, 0) << in_vm.err;
  EXPECT_EQ(in_vm.out, on_host.out) << in_vm.err << on_host.err;
  EXPECT_NE(in_vm.out.find("CapEff:\t00000000a80425fb"), std::string::npos) << in_vm.out;

  // Visible to the host; SIGTERM to uvm reaches the container's trap.
  BackgroundProcess running(
      Argv(in_processes({"busybox", "sh", "-c", "trap 'exit 3' TERM; sleep 313 & wait"})));
  ASSERT_TRUE(running.started());
  bool seen = false;
  for (int i = 0; i < 300 && !seen; ++i) {
    seen = RunProcess({"pgrep", "-f", "^sleep 313$"}, "", 30).exit_code == 0;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(seen) << "the container's sleep is not a host process";
  ::kill(running.pid(), SIGTERM);
  ProcessResult ended = running.Wait(60);
  EXPECT_EQ(ended.exit_code, 3) << ended.err;

  ProcessResult tty = RunProcess(
      {"script", "-qec",
       std::string(UVM_BINARY) + " --root " + root_ +
           " run --isolation process -t busybox sh -c 'test -t 0 && test -t 1 && echo on-a-tty'",
       "/dev/null"},
      "", 240);
  EXPECT_EQ(tty.exit_code, 0) << tty.out << tty.err;
  EXPECT_NE(tty.out.find("on-a-tty"), std::string::npos) << tty.out;

  // Nothing left of the runs but runc's (empty) state directory.
  ProcessResult left = RunProcess(
      {"sh", "-c", "ls -A " + root_ + "/process; grep -c " + root_ + "/process /proc/self/mounts"},
      "", 30);
  EXPECT_EQ(left.out, "runc\n0\n") << left.err;
}

// Images made by real tools run in the VM: umoci builds an OCI layout in two layers (busybox, then
// a layer that deletes a file, i.e. a whiteout) with an image config; skopeo turns it into a
// docker-archive. Both import and run with the config's entrypoint, cmd, env, working dir and user.
TEST_F(RunE2eTest, ImagesMadeByUmociAndSkopeoRun) {
  const std::string dir = root_ + "/tools";
  ProcessResult made = RunProcess({"/bin/sh", "-ec", "mkdir -p " + dir + "; cd " + dir + R"sh(
    umoci init --layout layout
    umoci new --image layout:v1
    umoci unpack --image layout:v1 bundle
    mkdir -p bundle/rootfs/bin bundle/rootfs/srv bundle/rootfs/tmp
    cp /bin/busybox bundle/rootfs/bin/busybox
    for t in sh echo id pwd test cat; do ln -s busybox bundle/rootfs/bin/$t; done
    echo doomed > bundle/rootfs/srv/old
    umoci repack --image layout:v1 bundle
    rm -rf bundle
    umoci unpack --image layout:v1 bundle
    rm bundle/rootfs/srv/old
    echo new > bundle/rootfs/srv/new
    umoci repack --image layout:v1 bundle
    umoci config --image layout:v1 --config.entrypoint /bin/sh --config.entrypoint -c \
      --config.cmd 'echo $GREETING; pwd; id -u; test -e old || echo old-gone; cat new' \
      --config.env GREETING=hello --config.workingdir /srv --config.user 65534:65534
    skopeo copy -q oci:layout:v1 docker-archive:docker.tar:example/app:v1
  )sh"});
  ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
  const std::string want = "hello\n/srv\n65534\nold-gone\nnew\n";
  for (const auto& [source, name] : std::vector<std::pair<std::string, std::string>>{
           {"oci:" + dir + "/layout:v1", "umoci"},
           {"docker-archive:" + dir + "/docker.tar", "skopeo"}}) {
    ProcessResult imported =
        RunProcess({UVM_BINARY, "--root", root_, "image", "import", source, name});
    ASSERT_EQ(imported.exit_code, 0) << source << ": " << imported.err;
    ProcessResult r = Run({name});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_EQ(r.out, want) << name << ": " << r.err;
  }
}

// -t follows the host terminal's size: uvm runs on a pseudo-terminal of ours; when we resize it
// (the kernel sends SIGWINCH to uvm), the container's terminal takes the new size.
TEST_F(RunE2eTest, TtyFollowsWindowSizeChanges) {
  winsize initial{};
  initial.ws_row = 24;
  initial.ws_col = 80;
  int master = -1;
  const std::vector<std::string> argv =
      Argv({"-i", "-t", "busybox", "sh", "-c", "stty size; while read x; do stty size; done"});
  const pid_t pid = forkpty(&master, nullptr, nullptr, &initial);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  std::string out;
  // Reads what uvm wrote to the terminal until `want` shows up; false after `seconds`.
  auto wait_for = [&](const std::string& want, int seconds, const char* poke) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      if (out.find(want) != std::string::npos) return true;
      pollfd p{master, POLLIN, 0};
      if (::poll(&p, 1, 500) > 0) {
        char buf[4096];
        ssize_t n = ::read(master, buf, sizeof buf);
        if (n <= 0) return out.find(want) != std::string::npos;
        out.append(buf, static_cast<size_t>(n));
      } else if (poke) {
        ssize_t w = ::write(master, poke, std::strlen(poke));  // another `stty size`
        (void)w;
      }
    }
    return false;
  };
  EXPECT_TRUE(wait_for("24 80", 240, nullptr)) << out;
  winsize bigger{};
  bigger.ws_row = 40;
  bigger.ws_col = 100;
  ASSERT_EQ(ioctl(master, TIOCSWINSZ, &bigger), 0);
  // The resize travels on the control stream, the newlines on stdin: poke until it shows.
  EXPECT_TRUE(wait_for("40 100", 120, "\n")) << out;
  ssize_t w = ::write(master, "\x04", 1);  // EOF ends the loop
  (void)w;
  // Drain the terminal until uvm exits (its output must not block it), for at most 60 s.
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 600 && (done = ::waitpid(pid, &status, WNOHANG)) == 0; ++i) {
    pollfd p{master, POLLIN, 0};
    char buf[4096];
    if (::poll(&p, 1, 100) > 0 && ::read(master, buf, sizeof buf) <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // closed: wait for the exit
    }
  }
  if (done == 0) {
    kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "uvm run -t did not end after EOF: " << out;
  } else {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  }
  ::close(master);
}

// The MAC uvm gave a run's net device: the last "virtio-net on tap T, MAC M" uvm -v logged (a run
// that made the template first logged the template's tap before its own).
std::string PlannedMac(const std::string& err) {
  const std::string marker = ", MAC ";
  const size_t tap = err.rfind("virtio-net on tap ");
  if (tap == std::string::npos) return "";
  const size_t at = err.find(marker, tap);
  return at == std::string::npos ? "" : err.substr(at + marker.size(), 17);
}

// --net none: loopback only, and up. --net tap: a clone of the template with a net device; eth0
// on a /30 shared with a tap of its own on the host, with the MAC uvm planned for the run (not the
// template's: two runs differ); the container reaches the host over TCP (a listener of ours on
// every address) and the tap is gone once the run ends.
TEST_F(RunE2eTest, NetworkNoneHasLoopbackAndTapReachesTheHost) {
  ProcessResult none = Run({"busybox", "sh", "-c", "ip -o link; ping -c 1 -W 5 127.0.0.1"});
  EXPECT_EQ(none.exit_code, 0) << none.out << none.err;
  EXPECT_NE(none.out.find("lo: <LOOPBACK,UP"), std::string::npos) << none.out;
  EXPECT_EQ(none.out.find("eth0"), std::string::npos) << none.out;

  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in any{};
  any.sin_family = AF_INET;
  socklen_t len = sizeof any;
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
  ASSERT_EQ(::listen(listener.get(), 2), 0);
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&any), &len), 0);
  const std::string port = std::to_string(ntohs(any.sin_port));
  std::string received;
  std::thread server([&] {
    for (int i = 0; i < 2; ++i) {
      pollfd p{listener.get(), POLLIN, 0};
      if (::poll(&p, 1, 240'000) <= 0) return;
      UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn.valid()) return;  // shut down: a run could not connect
      char buf[256];
      ssize_t n;
      while ((n = ::read(conn.get(), buf, sizeof buf)) > 0) received.append(buf, n);
    }
  });
  // Two runs one after the other: the first makes the template (and clones it), the second only
  // clones. Each sends its eth0 MAC to the host.
  std::vector<std::string> macs;
  int sent = 0;
  for (int run = 0; run < 2; ++run) {
    std::vector<std::string> argv = {
        UVM_BINARY,
        "-v",
        "--root",
        root_,
        "run",
        "--net",
        "tap",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; mac=$(cat /sys/class/net/eth0/address);"
        " echo mac=$mac; gw=$(ip route | awk '/default/ {print $3}'); "
        "echo from-$mac | nc -w 10 $gw " +
            port + " && echo sent"};
    ProcessResult tap = RunProcess(argv, "", 240);
    EXPECT_FALSE(tap.timed_out) << tap.err;
    EXPECT_EQ(tap.exit_code, 0) << tap.out << tap.err;
    EXPECT_NE(tap.err.find("machine restored from " + root_ + "/templates/"), std::string::npos)
        << "run " << run << " was not a clone: " << tap.err;
    EXPECT_NE(tap.out.find("inet 172.30."), std::string::npos) << tap.out;
    EXPECT_NE(tap.out.find("sent"), std::string::npos) << tap.out << tap.err;
    if (tap.out.find("sent") != std::string::npos) ++sent;
    const size_t m = tap.out.find("mac=");
    const std::string mac = m == std::string::npos ? "" : tap.out.substr(m + 4, 17);
    EXPECT_EQ(mac, PlannedMac(tap.err)) << tap.out << tap.err;
    macs.push_back(mac);
    // The guest had the second address of its /30; the host's first address of it went with the
    // tap.
    const size_t at = tap.out.find("inet 172.30.");
    if (at != std::string::npos) {
      const std::string guest = tap.out.substr(at + 5, tap.out.find('/', at) - at - 5);
      const std::string host_side =
          guest.substr(0, guest.rfind('.') + 1) +
          std::to_string(std::stoi(guest.substr(guest.rfind('.') + 1)) - 1);
      ProcessResult addrs = RunProcess({"ip", "-o", "-4", "addr"});
      EXPECT_EQ(addrs.out.find(host_side + "/"), std::string::npos) << addrs.out;
    }
  }
  // A run that could not connect leaves the server waiting for it: wake it (the test has failed).
  if (sent < 2) ::shutdown(listener.get(), SHUT_RDWR);
  server.join();
  ASSERT_EQ(macs.size(), 2u);
  EXPECT_NE(macs[0], macs[1]) << "two clones share eth0's MAC";
  EXPECT_NE(macs[0], "02:00:00:00:00:01") << "the template's MAC";
  EXPECT_EQ(received, "from-" + macs[0] + "\nfrom-" + macs[1] + "\n");
}

TEST_F(RunE2eTest, SignalsReachTheProcessAndASecondOneKillsIt) {
  // SIGTERM is forwarded: a shell that traps it reports it and exits normally.
  {
    BackgroundProcess p(Argv({"busybox", "sh", "-c",
                              "trap 'echo got-term; exit 3' TERM; echo ready; "
                              "while true; do sleep 1; done"}));
    ASSERT_TRUE(p.WaitForOutput("ready", 300)) << p.out();
    kill(p.pid(), SIGTERM);
    ProcessResult r = p.Wait(120);
    EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
    EXPECT_NE(r.out.find("got-term"), std::string::npos) << r.out;
  }
  // A process that ignores SIGTERM keeps running after the first; the second kills it (137).
  {
    BackgroundProcess p(
        Argv({"busybox", "sh", "-c", "trap '' TERM; echo ready; while true; do sleep 1; done"}));
    ASSERT_TRUE(p.WaitForOutput("ready", 300)) << p.out();
    kill(p.pid(), SIGTERM);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_FALSE(p.Exited());
    kill(p.pid(), SIGTERM);
    ProcessResult r = p.Wait(120);
    EXPECT_EQ(r.exit_code, 137) << r.out << r.err;
  }
}

}  // namespace
