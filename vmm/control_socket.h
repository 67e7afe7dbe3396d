// `uvm boot --api-sock PATH`: a unix socket through which a host program asks a running VM to
// save itself. Line protocol: the client sends `SAVE <dir>\n`; the VM stops (ExitKind::kSave), is
// saved to <dir>, and the client reads `OK\n` or `ERROR <one line>\n` once the save is done.
// Served on the VM's device event loop; one save per VM (the VM is gone after it).
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
// `SAVE <absolute-or-relative dir>` (no control characters) is refused with a message.
struct ControlRequest {
  std::string save_dir;
};
Result<ControlRequest> ParseControlRequest(std::string_view line);

// The client's side: asks the VM behind `path` to save itself to `dir` (absolute: the VM resolves
// it in its own working directory) and waits until it did. The error is the VM's reason.
Result<void> RequestSave(const std::string& path, const std::string& dir);

class ControlSocket {
 public:
  // Asks the VM to stop for a save; returns false if the VM was already stopping for another
  // reason (the latch had fired).
  using StopForSave = std::function<bool()>;

  // Binds and listens on `path` (an existing socket file there is replaced) and serves it on
  // `loop`. The socket file is removed when the ControlSocket is destroyed.
  static Result<std::unique_ptr<ControlSocket>> Create(const std::string& path, EventLoop& loop,
                                                       StopForSave stop);
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
  ControlSocket(std::string path, EventLoop& loop, StopForSave stop)
      : path_(std::move(path)), loop_(loop), stop_(std::move(stop)) {}
  void Accept();
  void OnReadable(int fd);
  void Drop(int fd);

  std::string path_;
  EventLoop& loop_;
  StopForSave stop_;
  UniqueFd listen_fd_;
  std::vector<std::unique_ptr<Client>> clients_;  // connected, request line not complete yet
  mutable std::mutex mu_;                         // guards the pending save
  UniqueFd save_client_;
  std::optional<std::string> save_dir_;
};

}  // namespace uvm::vmm
