#include "oci/vm_runtime.h"

#include <fcntl.h>
#include <signal.h>
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
#include "oci/vm_crun.h"
#include "oci/vm_keeper.h"
#include "oci/vm_layout.h"
#include "oci/vm_state.h"
#include "runtime/agent/stdio_relay.h"
#include "runtime/container.h"
#include "runtime/template_shape.h"

namespace uvm::oci {
namespace {

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
  const std::string dir = StateDir(args, id);
  auto planned = PlanVmBundle(*text, bundle, runtime::ShareTag,
                              static_cast<size_t>(runtime::kMaxShares), dir + "/" + kFilesDir);
  if (!planned) return Fail(args, planned.error().message);
  for (const auto& warning : planned->warnings) LogLine(args, "warning", warning);

  auto terminal = TerminalForEngine(planned->terminal, cl.Value("console-socket"));
  if (!terminal) return Fail(args, terminal.error().message);

  if (auto made = MakeDirs(VmRoot(args), 0700); !made) return Fail(args, made.error().message);
  if (::mkdir(dir.c_str(), 0700) < 0) {
    if (errno == EEXIST) return Fail(args, "container with id exists: " + id);
    return Fail(args, "mkdir " + dir + ": " + std::strerror(errno));
  }
  // The files the VM may reach, each alone (vm_bundle.h), before the VM shares their directory.
  if (auto bound = BindFiles(planned->file_binds); !bound) {
    (void)RemoveState(dir);
    return Fail(args, bound.error().message);
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
    (void)RemoveState(dir);
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
      (void)RemoveState(dir);
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
  // The whole request: the keeper reads the line, and end of file tells an older one too.
  if (!agent::WriteAll(sock.get(), "start\n") || ::shutdown(sock.get(), SHUT_WR) < 0)
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
  // SIGKILL ends the keeper and the VM with it: every process of the container. The keeper's
  // relay passes the signals it catches to the container's process; the others (and --all) go
  // through crun kill in the VM, once crun has the container.
  const bool relayed = *signo == SIGKILL || (Forwarded(*signo) && !cl.Has("all"));
  if (!relayed) {
    if (c->status == VmStatus::kCreated) {
      return Fail(args, "signal " + word +
                            " cannot reach a VM-isolated container before it starts (KILL, TERM, "
                            "INT, HUP, QUIT, USR1 and USR2 can)");
    }
    return CrunKill(args, id, *signo, cl.Has("all"));
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
    if (cl.Has("force") && ::stat(dir.c_str(), &st) == 0) {
      return RemoveState(dir) ? 0 : kFailure;
    }
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
  if (auto r = RemoveState(dir); !r) return Fail(args, r.error().message);
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
