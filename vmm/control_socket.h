// A VM's control socket (`uvm boot --api-sock PATH`; every utility VM's `api.sock` in its run
// directory): a unix socket through which a host program asks a running VM to save itself, or to
// pause and resume. Line protocol, one request per connection, answered `OK\n` or
// `ERROR <one line>\n`: `SAVE <dir>` stops the VM (ExitKind::kSave) and saves it to <dir>, answered
// once the save is done (one save per VM: the VM is gone after it); `PAUSE` holds the vCPUs out of
// the guest (vcpu_gate.h), answered once they all are; `RESUME` lets them run again. Served on the
// VM's device event loop.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/event_loop.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace uvm::vmm {

// A request line without its newline. Clients are local but untrusted: anything but
// `SAVE <absolute-or-relative dir>` (no control characters), `PAUSE` or `RESUME` is refused with a
// message.
struct ControlRequest {
  enum class Kind { kSave, kPause, kResume };
  Kind kind = Kind::kSave;
  std::string save_dir;  // kSave
};
Result<ControlRequest> ParseControlRequest(std::string_view line);

// The client's side: asks the VM behind `path` to save itself to `dir` (absolute: the VM resolves
// it in its own working directory) and waits until it did. The error is the VM's reason.
Result<void> RequestSave(const std::string& path, const std::string& dir);
// Asks the VM behind `path` to pause (or resume) its vCPUs and waits until it has.
Result<void> RequestPause(const std::string& path, bool pause);

class ControlSocket {
 public:
  struct Handlers {
    // Asks the VM to stop for a save; returns false if the VM was already stopping for another
    // reason (the latch had fired).
    std::function<bool()> stop_for_save;
    // PAUSE and RESUME, answered with their outcome; unset: refused.
    std::function<Result<void>()> pause;
    std::function<Result<void>()> resume;
  };

  // Binds and listens on `path` (an existing socket file there is replaced) and serves it on
  // `loop`. The socket file is removed when the ControlSocket is destroyed.
  static Result<std::unique_ptr<ControlSocket>> Create(const std::string& path, EventLoop& loop,
                                                       Handlers handlers);
  ~ControlSocket();
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  // The directory of the accepted SAVE request, if there is one. Called after the VM stopped.
  std::optional<std::string> pending_save_dir() const;
  // Answers the SAVE client (`OK` or `ERROR <message>`) and closes its connection.
  void FinishSave(const Result<void>& outcome);

 private:
  struct Client {
    UniqueFd fd;
    std::string line;
  };
  ControlSocket(std::string path, EventLoop& loop, Handlers handlers)
      : path_(std::move(path)), loop_(loop), handlers_(std::move(handlers)) {}
  void Accept();
  void OnReadable(int fd);
  void Drop(int fd);

  std::string path_;
  EventLoop& loop_;
  Handlers handlers_;
  UniqueFd listen_fd_;
  std::vector<std::unique_ptr<Client>> clients_;  // connected, request line not complete yet
  mutable std::mutex mu_;                         // guards the pending save
  UniqueFd save_client_;
  std::optional<std::string> save_dir_;
};

}  // namespace uvm::vmm
