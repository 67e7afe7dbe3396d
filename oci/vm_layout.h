// Where a VM-isolated container's state lives, shared by its commands (vm_runtime.cc) and the
// host processes that stand for its processes (vm_keeper.cc). ROOT/vm/ID holds state.json
// (create's record, vm_state.h), keeper.sock (the keeper's socket until `start`), agent (where the
// VM's agent answers, for exec, ps, pause), and the markers `started` and `paused`.
#pragma once

#include <signal.h>
#include <sys/un.h>

#include <chrono>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "oci/runtime_args.h"
#include "oci/vm_bundle.h"
#include "oci/vm_state.h"

namespace uvm::oci {

inline constexpr int kFailure = 1;          // runc's status for a failed command
inline constexpr int kKeeperFailure = 125;  // a keeper's own failure after start (docker's 125)
inline constexpr char kStateFile[] = "state.json";
inline constexpr char kStartedFile[] = "started";
inline constexpr char kPausedFile[] = "paused";
inline constexpr char kSocketName[] = "keeper.sock";
inline constexpr char kAgentFile[] = "agent";
inline constexpr char kHooksFile[] = "hooks.json";  // the config's hooks (hooks.h), if any

// ROOT/vm/ID.
std::string StateDir(const RuntimeArgs& args, const std::string& id);

// The signals a keeper's relay passes into the VM (stdio_relay.h); SIGKILL ends the keeper, and
// the VM with it.
inline constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
bool Forwarded(int signo);

// The Unix socket `name` in directory `dir`, addressed through the directory's descriptor: a
// sun_path holds 108 bytes, and a state directory under an engine's root with a 64-digit ID (or
// an engine's console socket) may not fit. `dir` stays open as long as the address is used.
struct SocketAddress {
  UniqueFd dir;
  sockaddr_un addr{};
};
Result<SocketAddress> SocketIn(const std::string& dir, const std::string& name);

// A failed command: its one line on stderr and in the log, and runc's status.
int Fail(const RuntimeArgs& args, const std::string& message);

// A container's record and its status now (the keeper's liveness and the markers).
struct Container {
  VmContainerRecord record;
  VmStatus status = VmStatus::kStopped;
};
Result<Container> Load(const RuntimeArgs& args, const std::string& id);

// The container's own directory for the files its bind mounts name (vm_bundle.h FileBind).
inline constexpr char kFilesDir[] = "files";
// The bind mounts of `binds` made (each target's directory and empty file first), or none of
// them and why; and all of those under `files_dir` undone (lazily: the VM may still hold them).
Result<void> BindFiles(const std::vector<FileBind>& binds);
void UnbindFiles(const std::string& files_dir);
// A container's state directory removed, its file binds undone first (delete, a failed create).
Result<void> RemoveState(const std::string& state_dir);

// Everything `fd` gives until end of file or `max` bytes, waiting at most `timeout`; with
// `ReplyEnd::kLine`, also up to the first newline (included): a request line from a client that
// keeps its connection open for the answer.
enum class ReplyEnd { kEof, kLine };
std::string ReadReply(int fd, size_t max, std::chrono::milliseconds timeout,
                      ReplyEnd end = ReplyEnd::kEof);

}  // namespace uvm::oci
