// The agent and its host client together, without a VM: the real uvm-agent binary serves on a
// unix socket (`--listen-unix`) and the real client drives it. Covers exec, exit statuses, exec
// failures, signals, stdio relay, the exit-after-drain rule and stdin end of file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "guest-agent/protocol/frame.h"
#include "runtime/agent/agent_client.h"
#include "tests/support/agent_memfiles.h"

namespace uvm::agent {
namespace {

using namespace std::chrono_literals;

using uvm::testing::MemFile;
using uvm::testing::Ran;
using uvm::testing::ReadFromStart;

ExecRequest Cmd(std::vector<std::string> argv) {
  ExecRequest r;
  r.argv = std::move(argv);
  return r;
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvm-agent-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/agent.sock";
  }
  void TearDown() override {
    if (agent_pid_ > 0) {
      kill(agent_pid_, SIGKILL);
      waitpid(agent_pid_, nullptr, 0);
    }
    ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0);
  }
  void StartAgent() {
    agent_pid_ = fork();
    if (agent_pid_ == 0) {
      std::string run_dir = dir_ + "/run";
      execl(UVM_AGENT_BINARY, UVM_AGENT_BINARY, "--listen-unix", socket_.c_str(), "--run-dir",
            run_dir.c_str(), nullptr);
      _exit(127);
    }
  }
  AgentClient Client() {
    if (agent_pid_ <= 0) StartAgent();
    auto c = AgentClient::Connect(AgentAddress::Unix(socket_), 10s);
    EXPECT_TRUE(c) << c.error().message;
    return std::move(*c);
  }
  Ran Run(const ExecRequest& request, const std::string& input = "") {
    AgentClient client = Client();
    auto p = client.Exec(request);
    EXPECT_TRUE(p) << p.error().message;
    return uvm::testing::RelayThroughMemFiles(*p, input, 30s);
  }

  std::string dir_, socket_;
  pid_t agent_pid_ = -1;
};

TEST_F(AgentTest, ExitCodesComeThrough) {
  for (int code : {0, 1, 42}) {
    Ran r = Run(Cmd({"/bin/sh", "-c", "exit " + std::to_string(code)}));
    EXPECT_EQ(r.exit.error, ExecError::kNone) << r.exit.message;
    EXPECT_EQ(r.exit.exit_code, code);
    EXPECT_EQ(r.exit.signal, 0);
    EXPECT_EQ(ShellExitCode(r.exit), code);
  }
}

TEST_F(AgentTest, MissingCommandIsNotFound) {
  Ran r = Run(Cmd({"uvm-no-such-command"}));
  EXPECT_EQ(r.exit.error, ExecError::kNotFound);
  EXPECT_EQ(ShellExitCode(r.exit), 127);
  EXPECT_NE(r.exit.message.find("uvm-no-such-command"), std::string::npos) << r.exit.message;
  r = Run(Cmd({"/nonexistent/bin/tool"}));
  EXPECT_EQ(r.exit.error, ExecError::kNotFound);
}

TEST_F(AgentTest, NonExecutableFileCannotExecute) {
  std::string file = dir_ + "/data.txt";
  std::ofstream(file) << "just text\n";
  ASSERT_EQ(chmod(file.c_str(), 0644), 0);
  Ran r = Run(Cmd({file}));
  EXPECT_EQ(r.exit.error, ExecError::kCannotExecute) << r.exit.message;
  EXPECT_EQ(ShellExitCode(r.exit), 126);
  // Executable bit but no known format: ENOEXEC, also 126.
  std::string junk = dir_ + "/junk";
  std::ofstream(junk) << std::string(
      "\x7f"
      "ELF garbage",
      12);
  ASSERT_EQ(chmod(junk.c_str(), 0755), 0);
  r = Run(Cmd({junk}));
  EXPECT_EQ(r.exit.error, ExecError::kCannotExecute) << r.exit.message;
}

TEST_F(AgentTest, BadWorkingDirectoryIsASetupError) {
  ExecRequest req = Cmd({"/bin/true"});
  req.cwd = "/nonexistent-dir";
  Ran r = Run(req);
  EXPECT_EQ(r.exit.error, ExecError::kSetup);
  EXPECT_NE(r.exit.message.find("/nonexistent-dir"), std::string::npos) << r.exit.message;
}

TEST_F(AgentTest, SigkilledProcessReportsSignal9) {
  AgentClient client = Client();
  auto p = client.Exec(Cmd({"/bin/sleep", "100"}));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_GT(p->pid(), 0);
  ASSERT_TRUE(p->Signal(SIGKILL));
  ASSERT_TRUE(RelayStdio(*p, -1, STDOUT_FILENO, STDERR_FILENO));
  auto exit = p->WaitExit(10s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->signal, 9);
  EXPECT_EQ(ShellExitCode(*exit), 137);
}

TEST_F(AgentTest, TenMebibytesThroughCatIntact) {
  std::string data(10 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7 + i / 4096) & 0xff);
  Ran r = Run(Cmd({"cat"}), data);
  EXPECT_EQ(r.exit.exit_code, 0);
  ASSERT_EQ(r.out.size(), data.size());
  EXPECT_TRUE(r.out == data);
  EXPECT_EQ(r.err, "");
}

TEST_F(AgentTest, StdoutAndStderrAreSeparateAndComplete) {
  Ran r = Run(Cmd({"/bin/sh", "-c",
                   "i=0; while [ $i -lt 2000 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done; "
                   "exit 5"}));
  EXPECT_EQ(r.exit.exit_code, 5);
  std::string want_out, want_err;
  for (int i = 0; i < 2000; ++i) {
    want_out += "out" + std::to_string(i) + "\n";
    want_err += "err" + std::to_string(i) + "\n";
  }
  EXPECT_TRUE(r.out == want_out) << r.out.size() << " bytes of stdout";
  EXPECT_TRUE(r.err == want_err) << r.err.size() << " bytes of stderr";
}

TEST_F(AgentTest, ExitIsReportedOnlyAfterTheHostDrainedTheStreams) {
  AgentClient client = Client();
  auto p = client.Exec(Cmd({"/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"}));
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_TRUE(p->CloseStdin());
  // The process is done in milliseconds, but its output has not been read: no Exit yet.
  auto early = p->WaitExit(500ms);
  ASSERT_FALSE(early);
  EXPECT_NE(early.error().message.find("timed out"), std::string::npos) << early.error().message;
  char buf[64];
  ssize_t n = read(p->stdout_fd(), buf, sizeof buf);
  ASSERT_EQ(std::string(buf, static_cast<size_t>(n)), "hello\n");
  EXPECT_EQ(read(p->stdout_fd(), buf, sizeof buf), 0);  // end of stdout
  p->CloseStdout();
  ASSERT_FALSE(p->WaitExit(300ms));  // stderr still unread
  n = read(p->stderr_fd(), buf, sizeof buf);
  ASSERT_EQ(std::string(buf, static_cast<size_t>(n)), "oops\n");
  p->CloseStderr();
  auto exit = p->WaitExit(10s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_code, 3);
}

TEST_F(AgentTest, ClosingStdinDeliversEndOfFile) {
  AgentClient client = Client();
  auto p = client.Exec(Cmd({"/bin/sh", "-c", "cat; echo after-eof"}));
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_TRUE(WriteAll(p->stdin_fd(), "line\n"));
  ASSERT_TRUE(p->CloseStdin());
  UniqueFd out = MemFile(""), err = MemFile("");
  ASSERT_TRUE(RelayStdio(*p, -1, out.get(), err.get()));
  EXPECT_EQ(ReadFromStart(out.get()), "line\nafter-eof\n");
  auto exit = p->WaitExit(10s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 0);
}

TEST_F(AgentTest, EnvironmentWorkingDirectoryAndUser) {
  ExecRequest req = Cmd({"/bin/sh", "-c", "echo $FOO; pwd; id -u; id -g; echo $PATH"});
  req.env = {"FOO=bar baz"};
  req.cwd = "/tmp";
  req.user = "65534:65533";
  Ran r = Run(req);
  EXPECT_EQ(r.exit.exit_code, 0) << r.exit.message << r.err;
  EXPECT_EQ(r.out, "bar baz\n/tmp\n65534\n65533\n" +
                       std::string("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") +
                       "\n");
}

TEST_F(AgentTest, TerminalGetsItsSizeAndResizes) {
  AgentClient client = Client();
  // The resize travels on the control connection and the newline on stdin's, so the newline
  // may arrive first: after it, poll (for at most ten seconds) until the new size shows.
  ExecRequest req = Cmd({"/bin/sh", "-c",
                         "stty size; read line; i=0; "
                         "while [ \"$(stty size)\" != '50 120' ] && [ $i -lt 200 ]; do "
                         "sleep 0.05; i=$((i+1)); done; stty size"});
  req.tty = true;
  req.rows = 30;
  req.cols = 100;
  auto p = client.Exec(req);
  ASSERT_TRUE(p) << p.error().message;
  std::string seen;
  char buf[256];
  while (seen.find("30 100") == std::string::npos) {
    ssize_t n = read(p->stdout_fd(), buf, sizeof buf);
    ASSERT_GT(n, 0) << seen;
    seen.append(buf, static_cast<size_t>(n));
  }
  ASSERT_TRUE(p->Resize(50, 120));
  ASSERT_TRUE(WriteAll(p->stdin_fd(), "\n"));
  UniqueFd out = MemFile(""), err = MemFile("");
  ASSERT_TRUE(RelayStdio(*p, -1, out.get(), err.get()));
  EXPECT_NE(ReadFromStart(out.get()).find("50 120"), std::string::npos);
  EXPECT_EQ(ReadFromStart(err.get()), "");  // a terminal has one output stream
  auto exit = p->WaitExit(10s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 0);
}

TEST_F(AgentTest, ConnectWaitsForTheAgentToListen) {
  std::thread late([this] {
    std::this_thread::sleep_for(300ms);
    StartAgent();
  });
  auto c = AgentClient::Connect(AgentAddress::Unix(socket_), 10s);
  late.join();
  ASSERT_TRUE(c) << c.error().message;
  auto p = c->Exec(Cmd({"/bin/true"}));
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_TRUE(RelayStdio(*p, -1, STDOUT_FILENO, STDERR_FILENO));
  EXPECT_EQ(p->WaitExit(10s)->exit_code, 0);
}

TEST_F(AgentTest, ConnectGivesUpWithAReason) {
  auto c = AgentClient::Connect(AgentAddress::Unix(socket_), 200ms);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("did not answer within 200 ms"), std::string::npos)
      << c.error().message;
}

TEST_F(AgentTest, WrongVersionAndGarbageAreRefused) {
  Client();  // agent up
  auto raw = [&] {
    return Dial(AgentAddress::Unix(socket_), std::chrono::steady_clock::now() + 5s);
  };
  auto fd = raw();
  ASSERT_TRUE(fd);
  ASSERT_TRUE(WriteMessage(fd->get(), Hello{99, Role::kControl, 0, StreamKind::kStdin}));
  auto reply = ReadMessage(fd->get(), std::chrono::steady_clock::now() + 5s);
  ASSERT_TRUE(reply) << reply.error().message;
  ASSERT_TRUE(std::holds_alternative<ErrorReply>(*reply));
  EXPECT_NE(std::get<ErrorReply>(*reply).message.find("version 99 is not supported"),
            std::string::npos);

  fd = raw();
  ASSERT_TRUE(WriteMessage(fd->get(), Hello{}));
  ASSERT_TRUE(ReadMessage(fd->get(), std::chrono::steady_clock::now() + 5s));
  ASSERT_TRUE(WriteAll(fd->get(), std::string("\x00\x00\x00\x05{{{{{", 9)));
  reply = ReadMessage(fd->get(), std::chrono::steady_clock::now() + 5s);
  ASSERT_TRUE(reply) << reply.error().message;
  ASSERT_TRUE(std::holds_alternative<ErrorReply>(*reply));
  EXPECT_NE(std::get<ErrorReply>(*reply).message.find("not valid JSON"), std::string::npos);

  // A stream for an exec that does not exist is closed, and the agent keeps serving.
  fd = raw();
  ASSERT_TRUE(
      WriteMessage(fd->get(), Hello{kProtocolVersion, Role::kStream, 12345, StreamKind::kStdout}));
  char c;
  EXPECT_EQ(read(fd->get(), &c, 1), 0);
  Ran r = Run(Cmd({"/bin/true"}));
  EXPECT_EQ(r.exit.exit_code, 0);
}

}  // namespace
}  // namespace uvm::agent

namespace uvm::agent {
namespace {

// The container path (rootfs device, overlay, namespaces, pivot_root) on the host: the image is
// an ext4 file on a read-only loop device. Skipped where loop devices cannot be set up.
class AgentRootfsTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    const std::string image = dir_ + "/image.ext4";
    std::string build =
        std::string(UVM_SOURCE_DIR) + "/tests/support/make-busybox-image.sh " + dir_ + " " + image;
    ASSERT_EQ(system(build.c_str()), 0) << build;
    FILE* p = popen(("losetup -r -f --show " + image + " 2>/dev/null").c_str(), "r");
    char line[256] = {};
    if (p && fgets(line, sizeof line, p)) loop_ = std::string(line).substr(0, strcspn(line, "\n"));
    if (p) pclose(p);
    if (loop_.empty()) GTEST_SKIP() << "no loop device available for the image";
  }
  void TearDown() override {
    if (!loop_.empty()) {
      EXPECT_EQ(system(("losetup -d " + loop_).c_str()), 0);
    }
    AgentTest::TearDown();
  }
  ExecRequest InContainer(std::vector<std::string> argv) {
    ExecRequest r = Cmd(std::move(argv));
    r.rootfs = Rootfs{loop_, "ext4", 16, {}};
    r.hostname = "uvm-test";
    return r;
  }
  std::string loop_;
};

TEST_F(AgentRootfsTest, ContainerIsPid1WithItsOwnRootHostnameAndWritableOverlay) {
  Ran r = Run(InContainer({"/bin/sh", "-c",
                           "echo pid=$$; hostname; ls /; echo x > /bin/new && cat /bin/new; "
                           "ls /proc | grep -c '^[0-9]'; exit 7"}));
  EXPECT_EQ(r.exit.exit_code, 7) << r.exit.message << r.err;
  EXPECT_EQ(r.out, "pid=1\nuvm-test\nbin\ndev\netc\nlost+found\nproc\nsys\nx\n3\n") << r.err;
  // The next container starts from the image again; the image itself was never written.
  r = Run(InContainer({"/bin/sh", "-c", "test -e /bin/new && echo leaked || echo clean"}));
  EXPECT_EQ(r.out, "clean\n");
  // The agent cleaned up its mounts.
  EXPECT_EQ(system(("grep -q '" + dir_ + "/run' /proc/self/mountinfo").c_str()) != 0, true);
}

TEST_F(AgentRootfsTest, UserNamesComeFromTheImageAndFailuresMap) {
  ExecRequest req = InContainer({"id"});
  req.user = "nobody";
  // No supplementary groups: the agent clears them and does not read /etc/group memberships.
  EXPECT_EQ(Run(req).out, "uid=65534(nobody) gid=65534\n");
  EXPECT_EQ(ShellExitCode(Run(InContainer({"no-such-tool"})).exit), 127);
  EXPECT_EQ(ShellExitCode(Run(InContainer({"/etc/passwd"})).exit), 126);
  req.user = "ghost";
  Ran r = Run(req);
  EXPECT_EQ(r.exit.error, ExecError::kSetup);
  EXPECT_NE(r.exit.message.find("'ghost' is not in the image's /etc/passwd"), std::string::npos)
      << r.exit.message;
}

TEST_F(AgentRootfsTest, SignalFromTheHostKillsTheNamespaceInit) {
  // The container's process is init of its PID namespace: a signal it sends itself is ignored
  // (like docker's PID 1), but the agent signals it from outside, where SIGKILL always works.
  AgentClient client = Client();
  auto p = client.Exec(InContainer({"/bin/sh", "-c", "kill -9 $$; echo survived; sleep 100"}));
  ASSERT_TRUE(p) << p.error().message;
  char buf[64];
  ssize_t n = read(p->stdout_fd(), buf, sizeof buf);
  ASSERT_EQ(std::string(buf, static_cast<size_t>(std::max<ssize_t>(n, 0))), "survived\n");
  ASSERT_TRUE(p->Signal(SIGKILL));
  ASSERT_TRUE(RelayStdio(*p, -1, STDOUT_FILENO, STDERR_FILENO));
  auto exit = p->WaitExit(10s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->signal, 9);
}

}  // namespace
}  // namespace uvm::agent
