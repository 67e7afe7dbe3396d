#include "oci/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/fs.h"
#include "base/json.h"
#include "base/quoted.h"
#include "base/unique_fd.h"

extern char** environ;

namespace uvm::oci {
namespace {

using nlohmann::json;

Result<std::vector<Hook>> ParseStage(const json& list, const std::string& stage) {
  if (!list.is_array()) return Err("config.json: hooks." + stage + " must be an array");
  std::vector<Hook> out;
  for (const json& entry : list) {
    const std::string what = "config.json: a " + stage + " hook";
    if (!entry.is_object()) return Err(what + " is not an object");
    Hook hook;
    UVM_TRY(hook.path, ReqString(entry, "path", what));
    if (hook.path.empty() || hook.path[0] != '/') {
      return Err(what + ": path " + Quoted(hook.path) + " is not absolute");
    }
    UVM_TRY(hook.args, OptStrings(entry, "args", what));
    if (entry.contains("env") && !entry["env"].is_null()) {
      UVM_TRY(hook.env, OptStrings(entry, "env", what));
    }
    UVM_TRY(std::optional<int64_t> timeout, OptInt(entry, "timeout", what));
    if (timeout) {
      if (*timeout <= 0 || *timeout > 24 * 3600) {
        return Err(what + ": timeout must be between 1 and 86400 seconds");
      }
      hook.timeout_seconds = static_cast<int>(*timeout);
    }
    out.push_back(std::move(hook));
  }
  return out;
}

json StageJson(const std::vector<Hook>& hooks) {
  json list = json::array();
  for (const Hook& h : hooks) {
    json entry = {{"path", h.path}};
    if (!h.args.empty()) entry["args"] = h.args;
    if (h.env) entry["env"] = *h.env;
    if (h.timeout_seconds > 0) entry["timeout"] = h.timeout_seconds;
    list.push_back(std::move(entry));
  }
  return list;
}

// The end of what a hook printed (memfd `fd`), for its error message.
std::string OutputTail(int fd) {
  std::string out = FileTail("/proc/self/fd/" + std::to_string(fd), 512);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

Result<Hooks> ParseHooks(const json& hooks) {
  Hooks out;
  if (hooks.is_null()) return out;
  if (!hooks.is_object()) return Err("config.json: hooks must be an object");
  size_t count = 0;
  for (const auto& [stage, list] : hooks.items()) {
    std::vector<Hook>* into = nullptr;
    if (stage == "prestart") into = &out.prestart;
    if (stage == "createRuntime") into = &out.create_runtime;
    if (stage == "poststart") into = &out.poststart;
    if (stage == "poststop") into = &out.poststop;
    if (stage == "createContainer" || stage == "startContainer") {
      if (list.is_array() && list.empty()) continue;
      return Err("config.json has " + stage +
                 " hooks: they run in the container's namespaces, which are inside its VM where "
                 "the host's programs are not (use process isolation)");
    }
    if (!into) return Err("config.json: unknown hook stage " + Quoted(stage));
    UVM_TRY(*into, ParseStage(list, stage));
    count += into->size();
    if (count > kMaxHooks)
      return Err("config.json: more than " + std::to_string(kMaxHooks) + " hooks");
  }
  return out;
}

json HooksJson(const Hooks& hooks) {
  json out = json::object();
  if (!hooks.prestart.empty()) out["prestart"] = StageJson(hooks.prestart);
  if (!hooks.create_runtime.empty()) out["createRuntime"] = StageJson(hooks.create_runtime);
  if (!hooks.poststart.empty()) out["poststart"] = StageJson(hooks.poststart);
  if (!hooks.poststop.empty()) out["poststop"] = StageJson(hooks.poststop);
  return out;
}

Result<void> RunHook(const Hook& hook, const std::string& state) {
  int sv[2];
  // A socket for stdin, not a pipe: a hook that never reads it gets EPIPE on our side through
  // MSG_NOSIGNAL instead of a SIGPIPE.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return ErrnoErr("socketpair");
  UniqueFd to_hook(sv[0]), hook_stdin(sv[1]);
  UniqueFd output(::memfd_create("uvm-hook-output", MFD_CLOEXEC));
  if (!output.valid()) return ErrnoErr("memfd_create");

  std::vector<std::string> args =
      hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = hook.env.value_or(std::vector<std::string>{});
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) return ErrnoErr("fork");
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(hook_stdin.get(), 0) < 0 || ::dup2(output.get(), 1) < 0 ||
        ::dup2(output.get(), 2) < 0) {
      ::_exit(127);
    }
    ::execve(hook.path.c_str(), argv.data(), hook.env ? envp.data() : environ);
    const std::string why = "exec: " + std::string(std::strerror(errno)) + "\n";
    (void)!::write(2, why.data(), why.size());
    ::_exit(127);
  }
  hook_stdin.Reset();
  ::fcntl(to_hook.get(), F_SETFL, O_NONBLOCK);

  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::seconds(hook.timeout_seconds);
  size_t sent = 0;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return ErrnoErr("waitpid");
    if (hook.timeout_seconds > 0 && Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return Err("timed out after " + std::to_string(hook.timeout_seconds) + " s" +
                 (OutputTail(output.get()).empty() ? "" : ": " + OutputTail(output.get())));
    }
    if (to_hook.valid() && sent < state.size()) {
      const ssize_t n =
          ::send(to_hook.get(), state.data() + sent, state.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) to_hook.Reset();  // it closed its stdin
    }
    if (to_hook.valid() && sent == state.size()) to_hook.Reset();  // end of file for the hook
    pollfd p{to_hook.valid() ? to_hook.get() : -1, POLLOUT, 0};
    ::poll(&p, 1, 10);
  }
  const std::string tail = OutputTail(output.get());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  const std::string how = WIFSIGNALED(status)
                              ? "killed by signal " + std::to_string(WTERMSIG(status))
                              : "exit status " + std::to_string(WEXITSTATUS(status));
  return Err(how + (tail.empty() ? "" : ": " + tail));
}

Result<void> RunHooks(const std::vector<Hook>& hooks, const char* stage, const std::string& state) {
  for (size_t i = 0; i < hooks.size(); ++i) {
    if (auto r = RunHook(hooks[i], state); !r) {
      return Err(std::string(stage) + " hook " + std::to_string(i) + " (" + hooks[i].path +
                 "): " + r.error().message);
    }
  }
  return {};
}

}  // namespace uvm::oci
