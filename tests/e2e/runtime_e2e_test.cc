// e2e for `uvm-runtime` under a real engine: podman (started by the test, no systemd: cgroupfs and
// file events, its storage on the suite's tmpfs) with `--runtime build/uvm-runtime`. A container
// annotated io.uvm.isolation=process runs under the host's runc with uvm-runtime routing every
// command; one without (VM isolation, the default) runs in a cloned utility VM. Runs where the
// e2e tier runs (in the lab on hosts whose KVM cannot run Linux), which hosts engines.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "tests/e2e/linux_guests.h"
#include "tests/support/process.h"
#include "tests/support/scratch_root.h"

namespace {

using uvm::testing::ProcessResult;
using uvm::testing::RunProcess;

constexpr char kImage[] = "localhost/uvm-runtime-e2e";
constexpr char kProcess[] = "io.uvm.isolation=process";

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The most of process `pid`'s threads seen inside KVM_RUN (the ioctl 0xae80, as /proc's syscall
// file shows a blocked system call) over a few looks: a running VM's vCPU threads wait there
// while the guest idles.
int MostThreadsInKvmRun(const std::string& pid) {
  int most = 0;
  for (int look = 0; look < 10; ++look) {
    int n = 0;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + pid + "/task", ec)) {
      auto text = uvm::ReadToEndLimited(task.path().string() + "/syscall", 4096);
      if (!text) continue;
      std::istringstream fields(*text);
      std::string nr, fd, request;
      fields >> nr >> fd >> request;
      if (nr == "16" && request == "0xae80") ++n;
    }
    most = std::max(most, n);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return most;
}

// uvm-runtime with the global options the engine gave the keeper's `create` (its command line),
// then `words`.
std::vector<std::string> RuntimeCommandOf(const std::string& keeper_pid,
                                          const std::vector<std::string>& words) {
  auto text = uvm::ReadToEndLimited("/proc/" + keeper_pid + "/cmdline", 1 << 16);
  std::vector<std::string> argv;
  if (!text) return {"false"};
  size_t at = 0;
  while (at < text->size()) {
    const size_t end = text->find('\0', at);
    std::string arg = text->substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (arg == "create") break;
    argv.push_back(arg);
    if (end == std::string::npos) break;
    at = end + 1;
  }
  argv.insert(argv.end(), words.begin(), words.end());
  return argv;
}

// How many of VM containers' file binds (ROOT/vm/ID/files/rw|ro/N/NAME) are mounted now.
int FileBindsMounted() {
  auto text = uvm::ReadToEndLimited("/proc/self/mountinfo", 1 << 20);
  int n = 0;
  for (size_t at = 0; text && (at = text->find("/files/r", at)) != std::string::npos; ++at) ++n;
  return n;
}

class RuntimeE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = uvm::testing::MakeScratchRoot("runtime-e2e");
    if (root_.empty() || !uvm::FindInPath("podman") || !uvm::FindInPath("runc")) return;
    if (!uvm::WriteFileAtomic(
            root_ + "/containers.conf",
            "[engine]\nconmon_env_vars = [\"PATH=/usr/sbin:/usr/bin:/sbin:/bin\", "
            "\"TMPDIR=" +
                root_ + "\"]\n")) {
      return;
    }
    ProcessResult r = RunProcess(
        Podman({"import", "--quiet", std::string(UVM_IMAGES) + "/busybox-rootfs.tar", kImage}), "",
        240);
    imported_ = r.exit_code == 0;
    import_error_ = r.err;
  }
  static void TearDownTestSuite() {
    if (!root_.empty()) RunProcess(Podman({"rm", "--all", "--force"}), "", 120);
    uvm::testing::RemoveScratchRoot(root_);
  }
  void SetUp() override {
    UVM_SKIP_UNLESS_LINUX_GUESTS();
    if (!uvm::FindInPath("podman") || !uvm::FindInPath("runc")) {
      GTEST_SKIP() << "podman or runc is not installed (make deps installs them)";
    }
    ASSERT_TRUE(imported_) << "podman import failed: " << import_error_;
  }
  static std::vector<std::string> Podman(const std::vector<std::string>& args) {
    // podman's own temporary files, and conmon's: conmon binds a -t container's console socket in
    // its TMPDIR, which podman sets from containers.conf's conmon_env_vars (SetUpTestSuite): the
    // suite's tmpfs, since the lab's /tmp is the host's over 9p, where a socket cannot be bound.
    std::vector<std::string> argv = {
        "env", "TMPDIR=" + root_, "CONTAINERS_CONF=" + root_ + "/containers.conf", "podman",
        "--root", root_ + "/storage", "--runroot", root_ + "/run", "--storage-driver", "overlay",
        "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime",
        std::string(UVM_BINARY) + "-runtime",
        // uvm's templates on the suite's tmpfs, not the host's
        "--runtime-flag", "uvm-root=" + root_ + "/uvm"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  static ProcessResult RunPodman(const std::vector<std::string>& args) {
    ProcessResult r = RunProcess(Podman(args), "", 240);
    EXPECT_FALSE(r.timed_out) << r.out << r.err;
    return r;
  }
  static std::string root_;
  static bool imported_;
  static std::string import_error_;
};
std::string RuntimeE2eTest::root_;
bool RuntimeE2eTest::imported_ = false;
std::string RuntimeE2eTest::import_error_;

TEST_F(RuntimeE2eTest, AProcessIsolatedRunPassesItsOutputAndStatus) {
  ProcessResult r = RunPodman({"run", "--rm", "--network", "none", "--annotation", kProcess, kImage,
                               "sh", "-c", "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "out\n");
  EXPECT_NE(r.err.find("err"), std::string::npos) << r.err;
}

// Detached, then exec, kill and remove: each command names the container and reaches runc through
// uvm-runtime. The container's process is a host process (Windows' way of showing process
// isolation): the host finds its `sleep`.
TEST_F(RuntimeE2eTest, ADetachedProcessContainerTakesExecKillAndRemove) {
  ProcessResult run = RunPodman({"run", "-d", "--name", "detached", "--network", "none",
                                 "--annotation", kProcess, kImage, "sleep", "301"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ProcessResult exec = RunPodman({"exec", "detached", "sh", "-c", "echo hi; exit 3"});
  EXPECT_EQ(exec.exit_code, 3) << exec.err;
  EXPECT_EQ(exec.out, "hi\n");
  ProcessResult seen = RunProcess({"pgrep", "-f", "^sleep 301$"}, "", 30);
  EXPECT_EQ(seen.exit_code, 0) << "the container's sleep is not a host process";
  ProcessResult kill = RunPodman({"kill", "--signal", "KILL", "detached"});
  EXPECT_EQ(kill.exit_code, 0) << kill.err;
  ProcessResult wait = RunPodman({"wait", "detached"});
  EXPECT_EQ(wait.out, "137\n") << wait.err;
  ProcessResult rm = RunPodman({"rm", "detached"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
}

// The default isolation: the container runs in a cloned utility VM, under crun inside it. Its
// kernel is the VM's (the command line uvm gave it names virtio-mmio devices; the lab's does
// not), its output, stdin to end of file and exit status pass through as with runc.
TEST_F(RuntimeE2eTest, AVmIsolatedRunPassesItsOutputStdinAndStatus) {
  ProcessResult r = RunPodman(
      {"run", "--rm", "--network", "none", kImage, "sh", "-c",
       "echo out; echo err >&2; grep -c virtio_mmio.device /proc/cmdline; hostname; exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out.substr(0, std::min<size_t>(r.out.size(), 6)), "out\n1\n") << r.out;
  EXPECT_NE(r.err.find("err"), std::string::npos) << r.err;

  ProcessResult cat = RunProcess(
      Podman({"run", "--rm", "-i", "--network", "none", kImage, "sh", "-c", "cat; echo done"}),
      "line one\nline two\n", 240);
  EXPECT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_EQ(cat.out, "line one\nline two\ndone\n") << cat.err;
}

// --memory and --cpus size the VM (rounded up to a template's shape: 512 MiB for 300m and the
// guest's own needs, 2 vCPUs) and hold inside it, in the container's cgroup, as under crun on a
// host.
TEST_F(RuntimeE2eTest, AVmIsolatedContainersResourcesSizeItsVmAndHoldInside) {
  ProcessResult r = RunPodman(
      {"run", "--rm", "--network", "none", "--memory", "300m", "--cpus", "2", kImage, "sh", "-c",
       "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max; nproc; "
       "awk '/MemTotal/ {print ($2 > 400000) ? \"big\" : $2}' /proc/meminfo"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "314572800\n200000 100000\n2\nbig\n") << r.err;
}

// Detached in a VM: the host does not see the container's sleep (it sees uvm-runtime's keeper
// instead); stop sends SIGTERM, which reaches the process in the VM; kill -s KILL ends it with
// 137; a running container is removed only by force.
TEST_F(RuntimeE2eTest, ADetachedVmContainerIsInvisibleToTheHostAndTakesSignals) {
  ProcessResult run = RunPodman({"run", "-d", "--name", "invm", "--network", "none", kImage, "sh",
                                 "-c", "trap 'echo got TERM; exit 9' TERM; sleep 302 & wait"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ProcessResult seen = RunProcess({"pgrep", "-f", "sleep 302"}, "", 30);
  EXPECT_EQ(seen.exit_code, 1) << "the VM's sleep shows on the host: " << seen.out;
  ProcessResult keeper = RunProcess({"pgrep", "-f", "uvm-runtime"}, "", 30);
  EXPECT_EQ(keeper.exit_code, 0) << "no uvm-runtime process stands for the container";
  // podman's files (/etc/hosts, /etc/resolv.conf, ...) reach the VM each alone, bound into the
  // container's own files directory, not through a share of podman's userdata directory.
  EXPECT_GE(FileBindsMounted(), 2) << "podman's files are not bound for the VM";
  // exec runs in the container, inside the VM: it sees the container's sleep among its
  // processes, and its output and status come back.
  ProcessResult exec =
      RunPodman({"exec", "invm", "sh", "-c", "echo hi; ps -o args | grep -c '^sleep 302'; exit 3"});
  EXPECT_EQ(exec.exit_code, 3) << exec.err;
  EXPECT_EQ(exec.out, "hi\n1\n") << "the exec does not see the container's sleep: " << exec.err;
  ProcessResult exec_in = RunProcess(Podman({"exec", "-i", "invm", "cat"}), "through stdin\n", 240);
  EXPECT_EQ(exec_in.out, "through stdin\n") << exec_in.err;
  // pause freezes the container's processes in the VM (its cgroup's freezer) and stops the VM's
  // vCPUs: no thread of the keeper (which runs the VM) is in KVM_RUN then. ps still answers (the
  // vCPUs run for it, and stop again). unpause thaws both: an exec then still runs.
  const std::string keeper_pid =
      Trimmed(RunPodman({"inspect", "--format", "{{.State.Pid}}", "invm"}).out);
  EXPECT_GE(MostThreadsInKvmRun(keeper_pid), 1) << "no vCPU in KVM_RUN before the pause";
  ProcessResult pause = RunPodman({"pause", "invm"});
  EXPECT_EQ(pause.exit_code, 0) << pause.err;
  EXPECT_EQ(RunPodman({"inspect", "--format", "{{.State.Status}}", "invm"}).out, "paused\n");
  EXPECT_EQ(MostThreadsInKvmRun(keeper_pid), 0) << "a vCPU runs while the container is paused";
  ProcessResult ps = RunProcess(
      RuntimeCommandOf(keeper_pid,
                       {"ps", "--format", "json",
                        Trimmed(RunPodman({"inspect", "--format", "{{.Id}}", "invm"}).out)}),
      "", 120);
  EXPECT_EQ(ps.exit_code, 0) << ps.err;
  EXPECT_EQ(ps.out.front(), '[') << ps.out;
  EXPECT_EQ(MostThreadsInKvmRun(keeper_pid), 0) << "ps left the paused VM's vCPUs running";
  ProcessResult unpause = RunPodman({"unpause", "invm"});
  EXPECT_EQ(unpause.exit_code, 0) << unpause.err;
  EXPECT_GE(MostThreadsInKvmRun(keeper_pid), 1) << "no vCPU in KVM_RUN after unpause";
  EXPECT_EQ(RunPodman({"exec", "invm", "echo", "thawed"}).out, "thawed\n");
  ProcessResult rm_running = RunPodman({"rm", "invm"});
  EXPECT_NE(rm_running.exit_code, 0) << "a running container was removed without --force";
  ProcessResult stop = RunPodman({"stop", "--time", "60", "invm"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  ProcessResult wait = RunPodman({"wait", "invm"});
  EXPECT_EQ(wait.out, "9\n") << wait.err;
  ProcessResult logs = RunPodman({"logs", "invm"});
  EXPECT_EQ(logs.out, "got TERM\n") << logs.err;
  EXPECT_EQ(RunPodman({"rm", "invm"}).exit_code, 0);

  ProcessResult again =
      RunPodman({"run", "-d", "--name", "killed", "--network", "none", kImage, "sleep", "303"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(RunPodman({"kill", "--signal", "KILL", "killed"}).exit_code, 0);
  EXPECT_EQ(RunPodman({"wait", "killed"}).out, "137\n");
  EXPECT_EQ(RunPodman({"rm", "killed"}).exit_code, 0);
  EXPECT_EQ(FileBindsMounted(), 0) << "a removed container's file binds are still mounted";
}

// -t in a VM: the engine gets its terminal from the console socket, the process in the VM has
// a terminal as its stdio; so does an exec -t. rm -f ends a running VM container.
TEST_F(RuntimeE2eTest, AVmIsolatedContainerGetsATerminal) {
  ProcessResult r = RunPodman({"run", "--rm", "-t", "--network", "none", kImage, "sh", "-c",
                               "test -t 0 && test -t 1 && echo on-a-tty; tty; stty size; exit 4"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.out.find("on-a-tty\r\n"), std::string::npos) << r.out << r.err;
  // crun made the terminal in the container's own devpts: its name is the container's.
  EXPECT_NE(r.out.find("/dev/pts/0\r\n"), std::string::npos) << r.out << r.err;

  ASSERT_EQ(RunPodman({"run", "-d", "--name", "withtty", "-t", "--network", "none", kImage, "sleep",
                       "304"})
                .exit_code,
            0);
  ProcessResult exec =
      RunPodman({"exec", "-t", "withtty", "sh", "-c", "test -t 1 && echo exec-tty; tty"});
  EXPECT_EQ(exec.exit_code, 0) << exec.err;
  EXPECT_NE(exec.out.find("exec-tty\r\n/dev/pts/"), std::string::npos) << exec.out << exec.err;
  EXPECT_EQ(RunPodman({"rm", "-f", "withtty"}).exit_code, 0);
}

// The container options a podman user reaches for hold the same way in either isolation: -v
// read-write (the write lands in the host's directory at once) and :ro, --tmpfs, -e, -w,
// --hostname, --read-only, --cap-drop ALL (a chown then fails), no-new-privileges, --user; in a
// VM crun applies them inside it, in a process container the host's runc.
TEST_F(RuntimeE2eTest, ContainerOptionsHoldInEitherIsolation) {
  const std::string script =
      "echo env=$FOO; echo cwd=$(pwd); hostname; echo written > /rw/out && echo rw-ok; cat /ro/in; "
      "touch /ro/x 2>/dev/null && echo ro-writable || echo ro-refused; "
      "touch /scratch/x && grep -q '^tmpfs /scratch ' /proc/mounts && echo tmpfs-ok; "
      "touch /x 2>/dev/null && echo root-writable || echo root-readonly; "
      "chown 1 /scratch/x 2>/dev/null && echo chown-ok || echo chown-refused; "
      "grep NoNewPrivs /proc/self/status";
  for (const bool in_vm : {true, false}) {
    SCOPED_TRACE(in_vm ? "vm isolation" : "process isolation");
    const std::string rw = root_ + (in_vm ? "/vol-rw-vm" : "/vol-rw-process");
    const std::string ro = root_ + "/vol-ro";
    ASSERT_TRUE(uvm::MakeDirs(rw));
    ASSERT_TRUE(uvm::MakeDirs(ro));
    ASSERT_TRUE(uvm::WriteFileAtomic(ro + "/in", "ro-content\n"));
    const std::vector<std::string> isolation = {"--annotation",
                                                in_vm ? "io.uvm.isolation=vm" : kProcess};
    std::vector<std::string> args = {"run", "--rm", "--network", "none"};
    args.insert(args.end(), isolation.begin(), isolation.end());
    const std::vector<std::string> options = {"-v",
                                              rw + ":/rw",
                                              "-v",
                                              ro + ":/ro:ro",
                                              "--tmpfs",
                                              "/scratch",
                                              "-e",
                                              "FOO=bar",
                                              "-w",
                                              "/ro",
                                              "--hostname",
                                              "box",
                                              "--read-only",
                                              "--cap-drop",
                                              "ALL",
                                              "--security-opt",
                                              "no-new-privileges",
                                              kImage,
                                              "sh",
                                              "-c",
                                              script};
    args.insert(args.end(), options.begin(), options.end());
    ProcessResult r = RunPodman(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out,
              "env=bar\ncwd=/ro\nbox\nrw-ok\nro-content\nro-refused\ntmpfs-ok\nroot-readonly\n"
              "chown-refused\nNoNewPrivs:\t1\n")
        << r.err;
    auto written = uvm::ReadFileLimited(rw + "/out", 100);
    EXPECT_TRUE(written && *written == "written\n") << "the write did not reach the host's " << rw;

    std::vector<std::string> user = {"run", "--rm", "--network", "none", "--user", "1000:1001"};
    user.insert(user.end(), isolation.begin(), isolation.end());
    user.insert(user.end(), {kImage, "sh", "-c", "id -u; id -g"});
    ProcessResult id = RunPodman(user);
    EXPECT_EQ(id.exit_code, 0) << id.err;
    EXPECT_EQ(id.out, "1000\n1001\n") << id.err;
  }
}

// Signals, update, the stop timeout and a restart, in either isolation: kill -s USR1 reaches the
// container's trap; update sets a new memory limit; stop sends SIGTERM, which the container
// ignores, then SIGKILL after the timeout (137); an exited container starts again under the same ID
// with its output and status; -t gives the process a terminal; pause and unpause.
TEST_F(RuntimeE2eTest, SignalsUpdateStopTimeoutAndRestartInEitherIsolation) {
  for (const bool in_vm : {true, false}) {
    SCOPED_TRACE(in_vm ? "vm isolation" : "process isolation");
    const std::string annotation = in_vm ? "io.uvm.isolation=vm" : kProcess;
    const std::string name = in_vm ? "sig-vm" : "sig-process";
    ASSERT_EQ(
        RunPodman(
            {"run", "-d", "--name", name, "--network", "none", "--annotation", annotation, kImage,
             "sh", "-c",
             "trap 'echo got USR1' USR1; trap 'echo got ALRM' ALRM; trap '' TERM; echo ready; "
             "while :; do sleep 1; done"})
            .exit_code,
        0);
    // The container's log, once it holds `line` (at most 30 s).
    auto logs_with = [&](const std::string& line) {
      std::string logs;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (logs.find(line) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        usleep(200 * 1000);
        logs = RunPodman({"logs", name}).out;
      }
      return logs;
    };
    // start returns before the shell has set its trap (as with runc): a USR1 sent sooner would
    // find none, and PID 1 ignores a signal it has no handler for.
    EXPECT_EQ(logs_with("ready"), "ready\n");
    EXPECT_EQ(RunPodman({"kill", "--signal", "USR1", name}).exit_code, 0);
    EXPECT_EQ(logs_with("got USR1"), "ready\ngot USR1\n");
    // A signal the keeper does not relay reaches the process too (in a VM: crun kill there).
    ProcessResult alrm = RunPodman({"kill", "--signal", "ALRM", name});
    EXPECT_EQ(alrm.exit_code, 0) << alrm.err;
    EXPECT_EQ(logs_with("got ALRM"), "ready\ngot USR1\ngot ALRM\n");
    // update changes the running container's cgroup (in its VM, or on the host).
    ProcessResult update = RunPodman({"update", "--memory", "400m", name});
    EXPECT_EQ(update.exit_code, 0) << update.err;
    EXPECT_EQ(RunPodman({"exec", name, "cat", "/sys/fs/cgroup/memory.max"}).out, "419430400\n");
    EXPECT_EQ(RunPodman({"pause", name}).exit_code, 0);
    EXPECT_EQ(RunPodman({"inspect", "--format", "{{.State.Status}}", name}).out, "paused\n");
    EXPECT_EQ(RunPodman({"unpause", name}).exit_code, 0);
    ProcessResult stop = RunPodman({"stop", "--time", "2", name});
    EXPECT_EQ(stop.exit_code, 0) << stop.err;
    EXPECT_EQ(RunPodman({"inspect", "--format", "{{.State.ExitCode}}", name}).out, "137\n");
    EXPECT_EQ(RunPodman({"rm", name}).exit_code, 0);

    const std::string again = name + "-again";
    ProcessResult first = RunPodman({"run", "--name", again, "--network", "none", "--annotation",
                                     annotation, kImage, "sh", "-c", "echo ran; exit 3"});
    EXPECT_EQ(first.exit_code, 3) << first.err;
    ProcessResult restart = RunPodman({"start", "--attach", again});
    EXPECT_EQ(restart.exit_code, 3) << restart.err;
    EXPECT_EQ(restart.out, "ran\n") << restart.err;
    EXPECT_EQ(RunPodman({"rm", again}).exit_code, 0);

    ProcessResult tty = RunPodman({"run", "--rm", "-t", "--network", "none", "--annotation",
                                   annotation, kImage, "sh", "-c", "test -t 1 && echo on-a-tty"});
    EXPECT_EQ(tty.exit_code, 0) << tty.err;
    EXPECT_NE(tty.out.find("on-a-tty\r\n"), std::string::npos) << tty.out << tty.err;
  }
}

// OCI hooks from the engine (podman's --hooks-dir, selected by an annotation) run on the host in
// either isolation, each with the container's state on stdin: prestart as the container is
// created, poststart once it runs, poststop when it is deleted.
TEST_F(RuntimeE2eTest, HooksRunOnTheHostInEitherIsolation) {
  const std::string hooks = root_ + "/hooks";
  ASSERT_TRUE(uvm::MakeDirs(hooks));
  for (const bool in_vm : {true, false}) {
    SCOPED_TRACE(in_vm ? "vm isolation" : "process isolation");
    const std::string log = root_ + (in_vm ? "/hooks-vm.log" : "/hooks-process.log");
    // The hook logs the status it was given (runc's state is one line; uvm's is indented).
    ASSERT_TRUE(uvm::WriteFileAtomic(root_ + "/log-status.sh",
                                     "s=$(tr -d '\\n '); echo \"$s\" | sed -n "
                                     "'s/.*\"status\":\"\\([a-z]*\\)\".*/\\1/p' >> $1\n"));
    ASSERT_TRUE(uvm::WriteFileAtomic(
        hooks + "/log.json",
        R"({"version": "1.0.0", "hook": {"path": "/bin/sh", "args": ["sh", ")" + root_ +
            "/log-status.sh\", \"" + log + R"("]},
            "when": {"annotations": {"^uvm-e2e-hook$": "^yes$"}},
            "stages": ["prestart", "poststart", "poststop"]})"));
    ProcessResult r = RunPodman({"--hooks-dir", hooks, "run", "--rm", "--network", "none",
                                 "--annotation", "uvm-e2e-hook=yes", "--annotation",
                                 in_vm ? "io.uvm.isolation=vm" : kProcess, kImage, "true"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string logged;
    for (int i = 0; i < 100; ++i) {
      logged = uvm::ReadFileLimited(log, 4096).value_or("");
      if (logged.find("stopped") != std::string::npos) break;
      usleep(100 * 1000);
    }
    // runc 1.1's statuses, which uvm gives its VM containers' hooks too.
    EXPECT_EQ(logged, "creating\ncreated\nstopped\n");
  }
}

// containerd, started by the test as on a host without systemd, runs a VM-isolated container
// through its runc shim with uvm-runtime as the shim's runc binary (ctr's --runc-binary, the
// BinaryName of a runtime in containerd's config); uvm's state root comes from the daemon's
// environment ($UVM_ROOT), since the shim passes its runtime no flags of uvm's. Then exec, ps
// and kill of a detached task.
TEST_F(RuntimeE2eTest, ContainerdRunsAVmIsolatedContainerThroughItsRuncShim) {
  if (!uvm::FindInPath("containerd") || !uvm::FindInPath("ctr")) {
    GTEST_SKIP() << "containerd is not installed (make deps installs it)";
  }
  const std::string archive = root_ + "/image.tar";
  ASSERT_EQ(
      RunPodman({"save", "--quiet", "--format", "oci-archive", "-o", archive, kImage}).exit_code,
      0);
  const std::string script = R"SH(
    R=$1/ctd; mkdir -p $R
    # TMPDIR: the shim binds a -t task's console socket there (the lab's /tmp cannot hold one).
    TMPDIR=$R UVM_ROOT=$1/uvm containerd --root $R/root --state $R/state --address $R/sock \
      >$R/log 2>&1 &
    daemon=$!
    for i in $(seq 600); do [ -S $R/sock ] && break; sleep 0.1; done
    c() { ctr --address $R/sock --namespace e2e "$@"; }
    c image import --base-name localhost/uvm-runtime-e2e "$2" >/dev/null || exit 92
    c run --rm --runc-binary "$3" localhost/uvm-runtime-e2e:latest one \
      sh -c 'echo in-vm; grep -c virtio_mmio.device /proc/cmdline; exit 5'
    rc=$?
    # (a line, not end of file: ctr run never closes a task's stdin, with runc either)
    printf 'via-stdin\n' | c run --rm --runc-binary "$3" localhost/uvm-runtime-e2e:latest three \
      sh -c 'read line; echo "got $line"'
    script -qec "ctr --address $R/sock --namespace e2e run --rm -t --runc-binary $3 \
      localhost/uvm-runtime-e2e:latest four sh -c 'test -t 0 && tty; exit 2'" /dev/null |
      grep -ao '/dev/pts/[0-9]*'  # (ctr's terminal echoes a NUL it sends first, as with runc)
    echo "tty=${PIPESTATUS[0]}"
    c run -d --runc-binary "$3" localhost/uvm-runtime-e2e:latest two sleep 305 || exit 93
    c task exec --exec-id e1 two sh -c 'echo exec; exit 6'
    echo "exec=$?"
    echo "ps=$(c task ps two | awk 'NR > 1' | wc -l)"
    c task kill -s KILL two
    for i in $(seq 100); do c task delete two >/dev/null 2>&1 && break; sleep 0.2; done
    c task ls -q | grep -c two
    kill $daemon; wait $daemon
    exit $rc)SH";
  ProcessResult r = RunProcess(
      {"bash", "-c", script, "bash", root_, archive, std::string(UVM_BINARY) + "-runtime"}, "",
      300);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  // run's output and status; stdin to cat; a terminal that names itself, and its status; exec's;
  // the sleep as ctr task ps lists it (crun ps in the VM); the task gone after kill and delete.
  EXPECT_EQ(r.out, "in-vm\n1\ngot via-stdin\n/dev/pts/0\ntty=2\nexec\nexec=6\nps=1\n0\n") << r.err;
}

}  // namespace
