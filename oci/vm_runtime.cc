#include "oci/vm_runtime.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>

#include "base/fs.h"
#include "base/json.h"
#include "base/phase_timer.h"
#include "base/quoted.h"
#include "base/unique_fd.h"
#include "guest-agent/protocol/frame.h"
#include "oci/bundle_isolation.h"
#include "oci/console.h"
#include "oci/hooks.h"
#include "oci/router.h"
#include "oci/runtime_log.h"
#include "oci/vm_bundle.h"
#include "oci/vm_keeper.h"
#include "oci/vm_layout.h"
#include "oci/vm_state.h"
#include "runtime/agent/stdio_relay.h"
#include "runtime/container.h"
#include "runtime/template_shape.h"

namespace uvm::oci {
namespace {

int Fail(const RuntimeArgs& args, const std::string& message) {
  ReportError(args, message);
  return kFailure;
}

struct Container {
  VmContainerRecord record;
  VmStatus status = VmStatus::kStopped;
};

Result<Container> Load(const RuntimeArgs& args, const std::string& id) {
  const std::string dir = StateDir(args, id);
  auto text = ReadFileLimited(dir + "/" + kStateFile, 1 << 20);
  if (!text) return Err("container " + id + " does not exist");
  UVM_TRY(VmContainerRecord record, ParseRecord(*text));
  Container c{record, VmStatus::kStopped};
  const auto start = LiveProcessStart(record.pid);
  if (start && *start == record.pid_start) {
    struct stat st;
    if (::stat((dir + "/" + kPausedFile).c_str(), &st) == 0) {
      c.status = VmStatus::kPaused;
    } else if (::stat((dir + "/" + kStartedFile).c_str(), &st) == 0) {
      c.status = VmStatus::kRunning;
    } else {
      c.status = VmStatus::kCreated;
    }
  }
  return c;
}

// The container's hooks, as create kept them (none when it kept none).
Hooks LoadHooks(const RuntimeArgs& args, const std::string& id) {
  auto text = ReadFileLimited(StateDir(args, id) + "/" + kHooksFile, kMaxConfigBytes);
  if (!text) return {};
  auto object = ParseJsonObject(*text, kHooksFile);
  if (!object) return {};
  return ParseHooks(*object).value_or(Hooks{});
}

// The process an exec runs: --process FILE, or the container's own process with the command's
// arguments and flags over it (runc's rules).
Result<nlohmann::json> ExecProcess(const CommandLine& cl, const VmContainerRecord& record) {
  using nlohmann::json;
  const std::string file = cl.Value("process");
  if (!file.empty()) {
    UVM_TRY(std::string text, ReadFileLimited(file, agent::kMaxBundleConfigBytes));
    return ParseJsonObject(text, "process " + Quoted(file));
  }
  if (cl.operands.size() < 2) return Err("exec: a command is required (or --process FILE)");
  UVM_TRY(std::string text, ReadFileLimited(record.bundle + "/config.json", kMaxConfigBytes));
  UVM_TRY(json config, ParseJsonObject(text, "config.json"));
  UVM_TRY(json process, OptObject(config, "process", "config.json"));
  process["args"] = std::vector<std::string>(cl.operands.begin() + 1, cl.operands.end());
  process["terminal"] = cl.Has("tty");
  if (!cl.Value("cwd").empty()) process["cwd"] = cl.Value("cwd");
  if (auto env = cl.lists.find("env"); env != cl.lists.end()) {
    if (!process["env"].is_array()) process["env"] = json::array();
    for (const auto& kv : env->second) process["env"].push_back(kv);
  }
  const std::string user = cl.Value("user");
  if (!user.empty()) {
    const size_t colon = user.find(':');
    const std::string uid = user.substr(0, colon);
    const std::string gid = colon == std::string::npos ? "" : user.substr(colon + 1);
    auto number = [](const std::string& w) {
      return !w.empty() && w.size() < 10 && std::all_of(w.begin(), w.end(), ::isdigit);
    };
    if (!number(uid) || (!gid.empty() && !number(gid))) {
      return Err("exec --user " + Quoted(user) + ": UID[:GID] as numbers");
    }
    process["user"]["uid"] = std::stoul(uid);
    process["user"]["gid"] = gid.empty() ? 0ul : std::stoul(gid);
  }
  if (cl.Has("no-new-privs")) process["noNewPrivileges"] = true;
  return process;
}

// Forks `child` (its result is the child's exit status; it gets the write end of a pipe) and
// waits for the child's word on the pipe: "ok", or why not (the child is then killed and
// reaped). Returns the child's pid after "ok".
Result<pid_t> ForkAndWaitForOk(const std::function<int(UniqueFd ready)>& child,
                               std::chrono::milliseconds timeout, const std::string& silent) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return ErrnoErr("pipe");
  UniqueFd ready_read(fds[0]), ready_write(fds[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return ErrnoErr("fork");
  if (pid == 0) {
    ready_read.Reset();
    ::_exit(child(std::move(ready_write)));
  }
  ready_write.Reset();
  const std::string word = ReadReply(ready_read.get(), 4096, timeout);
  if (word == "ok") return pid;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return Err(word.empty() ? silent : word);
}

// The exit status of child `pid`, as a shell reports it.
int WaitForChild(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

// ---- the commands ----

int Create(const RuntimeArgs& args, const CommandLine& cl, const std::string& id,
           pid_t* keeper_out) {
  if (!cl.Value("preserve-fds").empty() && cl.Value("preserve-fds") != "0") {
    return Fail(args, "--preserve-fds is not available under VM isolation");
  }
  std::string bundle = cl.Value("bundle");
  if (bundle.empty()) bundle = ".";
  char resolved[PATH_MAX];
  if (!::realpath(bundle.c_str(), resolved)) {
    return Fail(args, "bundle " + Quoted(bundle) + ": " + std::strerror(errno));
  }
  bundle = resolved;
  auto text = ReadFileLimited(bundle + "/config.json", kMaxConfigBytes);
  if (!text) return Fail(args, text.error().message);
  auto planned =
      PlanVmBundle(*text, bundle, runtime::ShareTag, static_cast<size_t>(runtime::kMaxShares));
  if (!planned) return Fail(args, planned.error().message);
  for (const auto& warning : planned->warnings) LogLine(args, "warning", warning);

  auto terminal = TerminalForEngine(planned->terminal, cl.Value("console-socket"));
  if (!terminal) return Fail(args, terminal.error().message);

  if (auto made = MakeDirs(VmRoot(args), 0700); !made) return Fail(args, made.error().message);
  const std::string dir = StateDir(args, id);
  if (::mkdir(dir.c_str(), 0700) < 0) {
    if (errno == EEXIST) return Fail(args, "container with id exists: " + id);
    return Fail(args, "mkdir " + dir + ": " + std::strerror(errno));
  }
  // The keeper answers once its VM is there: a clone takes well under a second, a template made
  // first (or a boot) longer.
  auto keeper_pid = ForkAndWaitForOk(
      [&](UniqueFd ready) {
        KeeperPlan plan{dir, std::move(*planned), terminal->get()};
        return RunKeeper(args, plan, std::move(ready));
      },
      std::chrono::minutes(10), "the container's VM process ended without a word");
  terminal->Reset();
  if (!keeper_pid) {
    (void)RemoveTree(dir);
    return Fail(args, keeper_pid.error().message);
  }
  const pid_t keeper = *keeper_pid;
  VmContainerRecord record;
  record.id = id;
  record.bundle = bundle;
  record.created = NowRfc3339();
  record.pid = keeper;
  record.pid_start = LiveProcessStart(keeper).value_or(0);
  record.annotations = planned->annotations;
  if (auto w = WriteFileAtomic(dir + "/" + kStateFile, RecordJson(record)); !w) {
    ::kill(keeper, SIGKILL);
    return Fail(args, w.error().message);
  }
  // prestart and createRuntime hooks: the VM exists and the keeper stands for the container. A
  // failure undoes the create, as runc's does.
  const Hooks& hooks = planned->hooks;
  if (!hooks.empty()) {
    auto kept = WriteFileAtomic(dir + "/" + kHooksFile, HooksJson(hooks).dump());
    if (kept) kept = RunHooks(hooks.prestart, "prestart", StateJsonAs(record, "creating"));
    if (kept)
      kept = RunHooks(hooks.create_runtime, "createRuntime", StateJsonAs(record, "creating"));
    if (!kept) {
      ::kill(keeper, SIGKILL);
      WaitForChild(keeper);
      (void)RemoveTree(dir);
      return Fail(args, kept.error().message);
    }
  }
  const std::string pid_file = cl.Value("pid-file");
  if (!pid_file.empty()) {
    if (auto w = WriteFileAtomic(pid_file, std::to_string(keeper)); !w) {
      ::kill(keeper, SIGKILL);
      return Fail(args, w.error().message);
    }
  }
  if (keeper_out) *keeper_out = keeper;
  return 0;
}

int Exec(const RuntimeArgs& args, const CommandLine& cl, const std::string& id) {
  for (const char* refused : {"cap", "additional-gids", "apparmor", "process-label", "cgroup"}) {
    if (cl.values.count(refused)) {
      return Fail(args, std::string("exec --") + refused +
                            " is not available for VM-isolated containers yet");
    }
  }
  if (!cl.Value("preserve-fds").empty() && cl.Value("preserve-fds") != "0") {
    return Fail(args, "--preserve-fds is not available under VM isolation");
  }
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  if (c->status == VmStatus::kPaused) return Fail(args, "cannot exec in a paused container");
  if (c->status != VmStatus::kRunning) return Fail(args, "cannot exec in a stopped container");
  auto process = ExecProcess(cl, c->record);
  if (!process) return Fail(args, process.error().message);
  const bool terminal = process->value("terminal", false);
  (*process)["terminal"] = false;  // the agent gives the terminal (vm_bundle.h)
  auto agent_uds = ReadFileLimited(StateDir(args, id) + "/" + kAgentFile, 4096);
  if (!agent_uds) return Fail(args, "container " + id + ": " + agent_uds.error().message);

  auto slave = TerminalForEngine(terminal, cl.Value("console-socket"));
  if (!slave) return Fail(args, slave.error().message);
  auto started = ForkAndWaitForOk(
      [&](UniqueFd ready) {
        return RunExec(args, *agent_uds, process->dump(), slave->get(), std::move(ready));
      },
      std::chrono::minutes(2), "the process did not start");
  slave->Reset();
  if (!started) return Fail(args, "exec: " + started.error().message);
  const pid_t pid = *started;
  const std::string pid_file = cl.Value("pid-file");
  if (!pid_file.empty()) {
    if (auto w = WriteFileAtomic(pid_file, std::to_string(pid)); !w) {
      return Fail(args, w.error().message);
    }
  }
  if (cl.Has("detach")) return 0;
  return WaitForChild(pid);
}

// Everything written to memfd `fd`, from its start.
std::string ReadBack(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  ::lseek(fd, 0, SEEK_SET);
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && out.size() < (1 << 20)) {
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// crun `words` about the container, run by the agent in the VM's own root: its output, or why
// it failed.
Result<std::string> CrunInVm(const RuntimeArgs& args, const std::string& id,
                             const std::vector<std::string>& words, int stdin_fd = -1) {
  UVM_TRY(std::string agent_uds, ReadFileLimited(StateDir(args, id) + "/" + kAgentFile, 4096));
  auto client =
      agent::AgentClient::Connect(agent::AgentAddress::Vsock(agent_uds), std::chrono::seconds(10));
  if (!client) return Err("the container's VM does not answer: " + client.error().message);
  agent::ExecRequest exec;
  exec.argv = {"crun", "--cgroup-manager=cgroupfs"};
  exec.argv.insert(exec.argv.end(), words.begin(), words.end());
  exec.argv.push_back(kVmContainerName);
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

// The container's processes, as the VM sees them (guest pids): crun ps in the VM.
int Ps(const RuntimeArgs& args, const CommandLine& cl, const std::string& id) {
  std::string format = cl.Value("format");
  if (format.empty()) format = "table";
  if (format != "table" && format != "json") {
    return Fail(args, "ps --format " + Quoted(format) + ": table or json");
  }
  if (cl.operands.size() > 1) {
    return Fail(args, "ps options for ps(1) are not available for VM-isolated containers");
  }
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

// pause and resume: the container's cgroup in the VM frozen and thawed (crun pause/resume, the
// cgroup2 freezer), as runc does on a host; the state says paused while the marker is there.
int PauseOrResume(const RuntimeArgs& args, const std::string& id, bool pause) {
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  if (pause && c->status != VmStatus::kRunning) return Fail(args, "container not running");
  if (!pause && c->status != VmStatus::kPaused) return Fail(args, "container not paused");
  auto out = CrunInVm(args, id, {pause ? "pause" : "resume"});
  if (!out) return Fail(args, std::string(pause ? "pause: " : "resume: ") + out.error().message);
  const std::string marker = StateDir(args, id) + "/" + kPausedFile;
  if (pause) {
    if (auto w = WriteFileAtomic(marker, ""); !w) return Fail(args, w.error().message);
  } else {
    ::unlink(marker.c_str());
  }
  return 0;
}

// All of stdin, at most `max` bytes.
Result<std::string> ReadStdin(size_t max) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(0, buf, sizeof buf);
    if (n == 0) return out;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoErr("reading stdin");
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max) return Err("more than " + std::to_string(max) + " bytes on stdin");
  }
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
    auto text = file == "-" ? ReadStdin(kMaxConfigBytes) : ReadFileLimited(file, kMaxConfigBytes);
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

int Start(const RuntimeArgs& args, const std::string& id) {
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  if (c->status == VmStatus::kStopped)
    return Fail(args, "cannot start a container that has stopped");
  if (c->status == VmStatus::kRunning || c->status == VmStatus::kPaused)
    return Fail(args, "cannot start an already running container");
  auto address = SocketIn(StateDir(args, id), kSocketName);
  if (!address) return Fail(args, address.error().message);
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.valid() || ::connect(sock.get(), reinterpret_cast<sockaddr*>(&address->addr),
                                 sizeof address->addr) < 0) {
    return Fail(args, "container " + id + ": its keeper does not answer: " + std::strerror(errno));
  }
  if (!agent::WriteAll(sock.get(), "start\n"))
    return Fail(args, "container " + id + ": start failed");
  const std::string reply = ReadReply(sock.get(), 4096, std::chrono::minutes(2));
  if (reply == "ok\n") {
    // runc's poststart: the state still says created, and a failure ends the container.
    auto hooks =
        RunHooks(LoadHooks(args, id).poststart, "poststart", StateJsonAs(c->record, "created"));
    if (hooks) return 0;
    ::kill(static_cast<pid_t>(c->record.pid), SIGKILL);
    return Fail(args, hooks.error().message);
  }
  return Fail(args, "container " + id + ": " +
                        (reply.empty() ? std::string("the process did not start") : reply));
}

int State(const RuntimeArgs& args, const std::string& id) {
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  std::printf("%s\n", StateJson(c->record, c->status).c_str());
  return 0;
}

int Kill(const RuntimeArgs& args, const CommandLine& cl, const std::string& id) {
  const std::string word = cl.operands.size() > 1 ? cl.operands[1] : "SIGTERM";
  const std::optional<int> signo = ParseSignal(word);
  if (!signo) return Fail(args, "invalid signal " + Quoted(word));
  auto c = Load(args, id);
  if (!c) return Fail(args, c.error().message);
  if (c->status == VmStatus::kStopped) return Fail(args, "container not running");
  if (*signo == 0) return 0;
  if (*signo != SIGKILL && !Forwarded(*signo)) {
    return Fail(args, "signal " + word +
                          " cannot reach a VM-isolated container yet (KILL, TERM, INT, HUP, QUIT, "
                          "USR1 and USR2 can)");
  }
  if (::kill(static_cast<pid_t>(c->record.pid), *signo) < 0) {
    return Fail(args, "kill: " + std::string(std::strerror(errno)));
  }
  return 0;
}

int Delete(const RuntimeArgs& args, const CommandLine& cl, const std::string& id) {
  auto c = Load(args, id);
  const std::string dir = StateDir(args, id);
  if (!c) {
    // A state directory without a readable record is what a create cut short leaves.
    struct stat st;
    if (cl.Has("force") && ::stat(dir.c_str(), &st) == 0) return RemoveTree(dir) ? 0 : kFailure;
    return Fail(args, c.error().message);
  }
  if (c->status != VmStatus::kStopped) {
    if (!cl.Has("force")) {
      return Fail(args, "cannot delete container " + id +
                            " that is not stopped: " + VmStatusName(c->status));
    }
    ::kill(static_cast<pid_t>(c->record.pid), SIGKILL);
    for (int i = 0; i < 1000 && LiveProcessStart(c->record.pid) == c->record.pid_start; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // runc's poststop: the container is gone either way; a failure is the command's.
  const Hooks hooks = LoadHooks(args, id);
  if (auto r = RemoveTree(dir); !r) return Fail(args, r.error().message);
  auto ran = RunHooks(hooks.poststop, "poststop", StateJson(c->record, VmStatus::kStopped));
  if (!ran) return Fail(args, ran.error().message);
  return 0;
}

}  // namespace

int RunVmCommand(const RuntimeArgs& args) {
  auto cl = ParseCommandLine(args.command, args.command_args);
  if (!cl) return Fail(args, cl.error().message);
  if (cl->operands.empty()) return Fail(args, args.command + ": a container ID is required");
  const std::string& id = cl->operands[0];
  if (!ValidContainerId(id)) return Fail(args, "invalid container ID " + Quoted(id));
  const std::string& command = args.command;
  if (command == "create") {
    // Signals are the container's: blocked before the keeper (and its VM's threads) exist.
    agent::BlockRelayedSignals();
    return Create(args, *cl, id, nullptr);
  }
  if (command == "run") {
    agent::BlockRelayedSignals();
    pid_t keeper = 0;
    if (int r = Create(args, *cl, id, &keeper); r != 0) return r;
    if (int r = Start(args, id); r != 0) return r;
    if (cl->Has("detach")) return 0;
    return WaitForChild(keeper);
  }
  if (command == "start") return Start(args, id);
  if (command == "state") return State(args, id);
  if (command == "kill") return Kill(args, *cl, id);
  if (command == "delete") return Delete(args, *cl, id);
  if (command == "ps") return Ps(args, *cl, id);
  if (command == "pause" || command == "resume") return PauseOrResume(args, id, command == "pause");
  if (command == "update") return Update(args, *cl, id);
  if (command == "exec") {
    agent::BlockRelayedSignals();
    return Exec(args, *cl, id);
  }
  return Fail(args,
              command + " is not available for VM-isolated containers yet (container " + id + ")");
}

}  // namespace uvm::oci
