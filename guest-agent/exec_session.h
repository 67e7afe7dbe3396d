// One Exec from start to its Exit report (ARCHITECTURE.md "The agent"): waits for the three stdio
// connections, mounts the container root, starts the process, relays its stdio, and sends Exit on
// the control connection only after stdout and stderr were drained and the host closed them.
#pragma once

#include <signal.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/event_loop.h"
#include "base/unique_fd.h"
#include "guest-agent/container_root.h"
#include "guest-agent/image_cache.h"
#include "guest-agent/oci_bundle.h"
#include "guest-agent/protocol/messages.h"
#include "guest-agent/reaper.h"
#include "guest-agent/stream_table.h"

namespace uvm::agent {

// A control connection. Reads happen on its own thread; writes come from that thread and from
// the exec's thread, so they are serialised here.
class ControlChannel {
 public:
  explicit ControlChannel(UniqueFd fd) : fd_(std::move(fd)) {}
  int fd() const { return fd_.get(); }
  Result<void> Send(const Message& message);

 private:
  UniqueFd fd_;
  std::mutex write_mu_;
};

// What every exec shares: the reaper, the stream table, where container roots are mounted, and
// the images prepared in a template.
struct AgentContext {
  Reaper& reaper;
  StreamTable& streams;
  std::string run_dir;
  ImageCache& images;
};

class ExecSession : public std::enable_shared_from_this<ExecSession> {
 public:
  // Runs on the control thread after ExecAccepted{id} was sent. Returns the running session, or
  // null when the exec ended before a process ran (its Exit has been sent).
  static std::shared_ptr<ExecSession> Start(AgentContext& ctx,
                                            std::shared_ptr<ControlChannel> control, uint64_t id,
                                            const ExecRequest& request);

  void Signal(int sig);
  Result<void> Resize(uint16_t rows, uint16_t cols);
  // The host went away: the process is killed (its Exit is still produced, then dropped).
  void Abandon() { Signal(SIGKILL); }

 private:
  ExecSession(AgentContext& ctx, std::shared_ptr<ControlChannel> control)
      : ctx_(ctx), control_(std::move(control)) {}
  void OnExit(int wait_status);
  void Run();  // on its own thread: relays, waits, reports

  AgentContext& ctx_;
  std::shared_ptr<ControlChannel> control_;
  StdioFds sockets_;
  UniqueFd stdin_sink_, stdout_source_, stderr_source_;  // agent ends of pipes or the pty master
  bool tty_ = false;
  std::optional<ContainerRoot> root_;
  std::optional<BundleRun> bundle_;
  pid_t pid_ = -1;

  std::mutex mu_;
  std::condition_variable exited_cv_;
  std::optional<int> wait_status_;
};

}  // namespace uvm::agent
