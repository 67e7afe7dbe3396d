// uvm-agent: PID 1 of the utility VM (ARCHITECTURE.md "The agent"). In the VM it mounts the system
// filesystems, reaps orphans and serves the agent protocol on vsock port 1024. For tests on the
// host,
// `--listen-unix PATH` serves the same protocol on a unix socket (no VM, no PID 1 duties).
//
//   uvm-agent [--vsock-port N] [--listen-unix PATH] [--run-dir DIR]
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>

#include "base/unix_socket.h"
#include "guest-agent/agent.h"
#include "guest-agent/init.h"
#include "guest-agent/protocol/messages.h"
#include "guest-agent/reaper.h"

namespace {

void Say(const std::string& line) {
  std::string s = "uvm-agent: " + line + "\n";
  ssize_t unused = write(STDERR_FILENO, s.data(), s.size());
  (void)unused;
}

// As PID 1 returning would panic the kernel; its message is then the last console line.
int Fatal(const std::string& line) {
  Say(line);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace uvm::agent;
  const bool pid1 = getpid() == 1;
  uint32_t port = kAgentPort;
  std::string unix_path, run_dir = "/run/uvm-agent";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--listen-unix") {
      const char* v = value();
      if (!v) return Fatal("--listen-unix needs a path");
      unix_path = v;
    } else if (arg == "--run-dir") {
      const char* v = value();
      if (!v) return Fatal("--run-dir needs a directory");
      run_dir = v;
    } else if (arg == "--vsock-port") {
      const char* v = value();
      if (!v || std::from_chars(v, v + strlen(v), port).ec != std::errc()) {
        return Fatal("--vsock-port needs a port number");
      }
    } else if (!pid1) {
      // As PID 1, the kernel passes command-line words it did not understand: ignore them.
      return Fatal("unknown argument '" + arg + "'");
    }
  }

  if (pid1) {
    if (auto r = LeaveInitramfs(argv); !r) return Fatal(r.error().message);
    if (auto r = MountSystem(); !r) return Fatal(r.error().message);
  } else {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    // Outside a VM, container mounts must not outlive the agent or show up on the host: keep
    // them in a mount namespace of the agent's own (where that is allowed).
    if (unshare(CLONE_NEWNS) == 0) mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  }
  signal(SIGPIPE, SIG_IGN);
  mkdir(run_dir.c_str(), 0700);

  Reaper::BlockSigchld();  // before any thread exists: every thread inherits the mask
  Reaper reaper;
  reaper.Start();

  // The agent listens on vsock (any CID); tests give it a unix socket path instead.
  auto listener = unix_path.empty() ? uvm::ListenVsock(port) : uvm::ListenUnix(unix_path);
  if (!listener) return Fatal(listener.error().message);
  Say("listening on " + (unix_path.empty() ? "vsock port " + std::to_string(port) : unix_path) +
      " (protocol " + std::to_string(kProtocolVersion) + ")");
  Agent agent(reaper, run_dir);
  auto served = agent.Serve(listener->get());
  return Fatal(served ? "stopped serving" : served.error().message);
}
