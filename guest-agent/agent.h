// The agent's server: accepts connections (vsock in the VM, a unix socket in tests), reads each
// one's Hello and serves it as a control connection or hands it to its exec as a stdio stream.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "guest-agent/exec_session.h"
#include "guest-agent/image_cache.h"
#include "guest-agent/reaper.h"
#include "guest-agent/stream_table.h"

namespace uvm::agent {

class Agent {
 public:
  // `run_dir` holds the container roots (one directory per exec). The reaper must be started.
  Agent(Reaper& reaper, std::string run_dir)
      : images_(run_dir + "/images"), ctx_{reaper, streams_, std::move(run_dir), images_} {}

  // Accepts connections on `listen_fd` forever (each is served on its own thread); returns only
  // if accepting fails.
  Result<void> Serve(int listen_fd);

 private:
  void HandleConnection(UniqueFd fd);
  void ServeControl(std::shared_ptr<ControlChannel> control);

  StreamTable streams_;
  ImageCache images_;
  AgentContext ctx_;
  std::atomic<uint64_t> next_exec_id_{1};
};

}  // namespace uvm::agent
