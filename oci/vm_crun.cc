#include "oci/vm_crun.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "base/fs.h"
#include "base/json.h"
#include "base/phase_timer.h"
#include "base/quoted.h"
#include "base/unique_fd.h"
#include "guest-agent/protocol/frame.h"
#include "oci/bundle_isolation.h"
#include "oci/vm_bundle.h"
#include "oci/vm_layout.h"
#include "oci/vm_state.h"
#include "runtime/agent/agent_client.h"
#include "runtime/agent_vm.h"
#include "runtime/container.h"
#include "vmm/control_socket.h"

namespace uvm::oci {
namespace {

// Everything written to memfd `fd`, from its start.
std::string ReadBack(int fd) {
  ::lseek(fd, 0, SEEK_SET);
  return ReadFdToEnd(fd, "crun's output", 16 << 20).value_or("");
}

// crun `words` about the container (then `after_name`), run by the agent at `agent_uds` in the
// VM's own root: its output, or why it failed.
Result<std::string> CrunInRunningVm(const std::string& agent_uds,
                                    const std::vector<std::string>& words, int stdin_fd,
                                    const std::vector<std::string>& after_name = {}) {
  auto client =
      agent::AgentClient::Connect(agent::AgentAddress::Vsock(agent_uds), std::chrono::seconds(10));
  if (!client) return Err("the container's VM does not answer: " + client.error().message);
  agent::ExecRequest exec;
  exec.argv = {"crun", "--cgroup-manager=cgroupfs"};
  exec.argv.insert(exec.argv.end(), words.begin(), words.end());
  exec.argv.push_back(kVmContainerName);
  exec.argv.insert(exec.argv.end(), after_name.begin(), after_name.end());
  UniqueFd out(::memfd_create("uvm-crun-out", MFD_CLOEXEC)),
      err(::memfd_create("uvm-crun-err", MFD_CLOEXEC));
  UVM_TRY(runtime::ContainerExit exit,
          runtime::RunInVm(*client, std::move(exec),
                           runtime::ContainerIo{stdin_fd, out.get(), err.get()},
                           runtime::ContainerHooks{}, PhaseTimer()));
  if (exit.code != 0) {
    std::string why = ReadBack(err.get());
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return Err(why.empty() ? exit.problem : why);
  }
  return ReadBack(out.get());
}

// Where the container's VM answers: its agent, as the keeper recorded it.
Result<std::string> AgentOf(const RuntimeArgs& args, const std::string& id) {
  return ReadFileLimited(StateDir(args, id) + "/" + kAgentFile, 4096);
}

// pause, resume, ps and update of one container take turns (a lock on its state directory): a ps
// that lets a paused VM's vCPUs run for its answer must not race a resume. Other containers'
// commands never wait.
Result<UniqueFd> TakeTurn(const RuntimeArgs& args, const std::string& id) {
  const std::string dir = StateDir(args, id);
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Err("container " + id + " does not exist");
  while (::flock(fd.get(), LOCK_EX) < 0) {
    if (errno != EINTR) return ErrnoErr("locking " + dir);
  }
  return fd;
}

// The VM's vCPUs stopped or let run again (its control socket, vmm/control_socket.h).
Result<void> VcpusRun(const std::string& agent_uds, bool run) {
  return Context(vmm::RequestPause(runtime::ControlSocketOf(agent_uds), !run),
                 run ? "resuming the VM" : "pausing the VM");
}

// crun `words` about the container, run by the agent in the VM's own root: its output, or why
// it failed. A paused container's VM has its vCPUs stopped: they run for the answer, and stop
// again after it (the container's processes stay frozen in its cgroup all along).
Result<std::string> CrunInVm(const RuntimeArgs& args, const std::string& id,
                             const std::vector<std::string>& words, int stdin_fd = -1,
                             const std::vector<std::string>& after_name = {}) {
  UVM_TRY(std::string agent_uds, AgentOf(args, id));
  struct stat st;
  const bool paused = ::stat((StateDir(args, id) + "/" + kPausedFile).c_str(), &st) == 0;
  if (paused) UVM_CHECK(VcpusRun(agent_uds, true));
  auto out = CrunInRunningVm(agent_uds, words, stdin_fd, after_name);
  if (paused) UVM_CHECK(VcpusRun(agent_uds, false));
  return out;
}

}  // namespace

int Ps(const RuntimeArgs& args, const CommandLine& cl, const std::string& id) {
  std::string format = cl.Value("format");
  if (format.empty()) format = "table";
  if (format != "table" && format != "json") {
    return Fail(args, "ps --format " + Quoted(format) + ": table or json");
  }
  if (cl.operands.size() > 1) {
    return Fail(args, "ps options for ps(1) are not available for VM-isolated containers");
  }
  auto turn = TakeTurn(args, id);
  if (!turn) return Fail(args, turn.error().message);
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  if (c->status == VmStatus::kStopped) {
    return Fail(args, "cannot ps a container that is not running");
  }
  auto out = CrunInVm(args, id, {"ps", "--format", "json"});
  if (!out) return Fail(args, "ps: " + out.error().message);
  auto pids = ParseJsonArrayOfInts(*out);
  if (!pids) return Fail(args, "ps: " + pids.error().message);
  if (format == "json") {
    std::printf("%s\n", nlohmann::json(*pids).dump().c_str());
  } else {
    std::printf("PID\n");
    for (int64_t pid : *pids) std::printf("%lld\n", static_cast<long long>(pid));
  }
  return 0;
}

// pause: the container's cgroup in the VM frozen (crun pause, the cgroup2 freezer), as runc does
// on a host, then the VM's vCPUs stopped, so the VM costs the host no CPU while it is paused;
// resume the other way round. The state says paused while the marker is there. A signal sent
// meanwhile waits in the VM's queue, as it waits for a frozen process under runc; SIGKILL ends the
// keeper, and the VM with it.
int PauseOrResume(const RuntimeArgs& args, const std::string& id, bool pause) {
  auto turn = TakeTurn(args, id);
  if (!turn) return Fail(args, turn.error().message);
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  if (pause && c->status != VmStatus::kRunning) return Fail(args, "container not running");
  if (!pause && c->status != VmStatus::kPaused) return Fail(args, "container not paused");
  auto agent_uds = AgentOf(args, id);
  if (!agent_uds) return Fail(args, "container " + id + ": " + agent_uds.error().message);
  const std::string marker = StateDir(args, id) + "/" + kPausedFile;
  if (pause) {
    if (auto out = CrunInRunningVm(*agent_uds, {"pause"}, -1); !out) {
      return Fail(args, "pause: " + out.error().message);
    }
    if (auto stopped = VcpusRun(*agent_uds, false); !stopped) {
      (void)CrunInRunningVm(*agent_uds, {"resume"}, -1);  // not paused after all
      return Fail(args, "pause: " + stopped.error().message);
    }
    if (auto w = WriteFileAtomic(marker, ""); !w) {
      (void)VcpusRun(*agent_uds, true);
      (void)CrunInRunningVm(*agent_uds, {"resume"}, -1);
      return Fail(args, w.error().message);
    }
    return 0;
  }
  if (auto running = VcpusRun(*agent_uds, true); !running) {
    return Fail(args, "resume: " + running.error().message);
  }
  if (auto out = CrunInRunningVm(*agent_uds, {"resume"}, -1); !out) {
    (void)VcpusRun(*agent_uds, false);  // still paused, as the state says
    return Fail(args, "resume: " + out.error().message);
  }
  ::unlink(marker.c_str());
  return 0;
}

// kill with a signal the keeper does not relay, or --all: crun kill in the VM. A paused
// container's signal waits there, as under runc.
int CrunKill(const RuntimeArgs& args, const std::string& id, int signo, bool all) {
  auto turn = TakeTurn(args, id);
  if (!turn) return Fail(args, turn.error().message);
  std::vector<std::string> words = {"kill"};
  if (all) words.push_back("--all");
  auto out = CrunInVm(args, id, words, -1, {std::to_string(signo)});
  if (!out) return Fail(args, "kill: " + out.error().message);
  return 0;
}

// update: the container's cgroup in the VM changed by `crun update` with the same flags (runc
// 1.1's and crun's agree), a resources file or stdin (`--resources -`, containerd's shim) passed
// on as crun's stdin. The VM keeps its size: a memory limit above it holds only up to it.
int Update(const RuntimeArgs& args, const CommandLine& cl, const std::string& id) {
  static const char* const kPassed[] = {"memory",        "memory-reservation", "memory-swap",
                                        "cpu-period",    "cpu-quota",          "cpu-share",
                                        "cpu-rt-period", "cpu-rt-runtime",     "cpuset-cpus",
                                        "cpuset-mems",   "pids-limit",         "blkio-weight"};
  std::vector<std::string> words = {"update"};
  for (const auto& [name, value] : cl.values) {
    if (name == "resources") continue;
    if (std::find_if(std::begin(kPassed), std::end(kPassed),
                     [&](const char* p) { return name == p; }) == std::end(kPassed)) {
      return Fail(args, "update --" + name + " is not available for VM-isolated containers");
    }
    words.push_back("--" + name + "=" + value);
  }
  UniqueFd resources;
  const std::string file = cl.Value("resources");
  if (!file.empty()) {
    // The engine's JSON, checked here (bounded, an object) before it reaches the VM.
    auto text = file == "-" ? ReadFdToEnd(0, "stdin", kMaxConfigBytes)
                            : ReadFileLimited(file, kMaxConfigBytes);
    if (!text) return Fail(args, "update --resources: " + text.error().message);
    if (auto parsed = ParseJsonObject(*text, "update --resources"); !parsed) {
      return Fail(args, parsed.error().message);
    }
    resources.Reset(::memfd_create("uvm-update-resources", MFD_CLOEXEC));
    if (!resources.valid() || !agent::WriteAll(resources.get(), *text) ||
        ::lseek(resources.get(), 0, SEEK_SET) != 0) {
      return Fail(args, "update: " + std::string(std::strerror(errno)));
    }
    words.push_back("--resources=/proc/self/fd/0");
  }
  if (words.size() == 1) return Fail(args, "update: nothing to change");
  auto turn = TakeTurn(args, id);
  if (!turn) return Fail(args, turn.error().message);
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  if (c->status == VmStatus::kStopped) return Fail(args, "container " + id + " is not running");
  if (c->status == VmStatus::kCreated) {
    return Fail(args, "update of a VM-isolated container that has not started is not available");
  }
  auto out = CrunInVm(args, id, words, resources.valid() ? resources.get() : -1);
  if (!out) return Fail(args, "update: " + out.error().message);
  return 0;
}

}  // namespace uvm::oci
