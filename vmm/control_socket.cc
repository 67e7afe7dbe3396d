#include "vmm/control_socket.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "base/unix_socket.h"

namespace uvm::vmm {
namespace {

// A request line is a command and a path: PATH_MAX and a little more.
constexpr size_t kMaxLine = 4096 + 16;

void WriteLine(int fd, const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    // MSG_NOSIGNAL: a client that went away must not kill uvm with SIGPIPE.
    ssize_t n = ::send(fd, line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      ::usleep(1000);  // one short line to a local reader: its buffer drains at once
      continue;
    }
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// The message on one line: an error text must not break the line protocol.
std::string OneLine(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

}  // namespace

Result<ControlRequest> ParseControlRequest(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line == "PAUSE") return ControlRequest{ControlRequest::Kind::kPause, {}};
  if (line == "RESUME") return ControlRequest{ControlRequest::Kind::kResume, {}};
  constexpr std::string_view kSave = "SAVE ";
  if (line.substr(0, kSave.size()) != kSave) {
    return Err("unknown request (the requests are `SAVE <dir>`, `PAUSE` and `RESUME`)");
  }
  line.remove_prefix(kSave.size());
  if (line.empty()) return Err("SAVE needs a directory");
  if (line.size() > 4096) return Err("SAVE: the directory name is too long");
  for (char c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Err("SAVE: the directory name has a control character");
    }
  }
  return ControlRequest{ControlRequest::Kind::kSave, std::string(line)};
}

namespace {

// Sends `request` (one line) to the control socket at `path` and waits for its answer.
Result<void> Request(const std::string& path, const std::string& request) {
  auto connected = ConnectUnix(path);
  if (!connected) {
    return Err(connected.error().code,
               connected.error().message + " (is `uvm boot --api-sock` running?)");
  }
  const int fd = connected->get();
  size_t done = 0;
  while (done < request.size()) {
    ssize_t n = ::send(fd, request.data() + done, request.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoErr(path + ": send");
    done += static_cast<size_t>(n);
  }
  // A save's answer comes once the VM is saved (seconds for a large guest): wait for the line.
  std::string answer;
  char buf[512];
  while (answer.find('\n') == std::string::npos) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoErr(path + ": read");
    if (n == 0) return Err("the VM closed its control socket without an answer (see its log)");
    if (answer.size() > 4096) return Err("the control socket's answer is too long");
    answer.append(buf, static_cast<size_t>(n));
  }
  answer.resize(answer.find('\n'));
  if (answer == "OK") return {};
  constexpr std::string_view kError = "ERROR ";
  if (answer.starts_with(kError)) return Err(answer.substr(kError.size()));
  return Err("unexpected answer on the control socket: " + answer.substr(0, 200));
}

}  // namespace

Result<void> RequestSave(const std::string& path, const std::string& dir) {
  return Request(path, "SAVE " + dir + "\n");
}

Result<void> RequestPause(const std::string& path, bool pause) {
  return Request(path, pause ? "PAUSE\n" : "RESUME\n");
}

Result<std::unique_ptr<ControlSocket>> ControlSocket::Create(const std::string& path,
                                                             EventLoop& loop, Handlers handlers) {
  UVM_TRY(UniqueFd fd,
          Context(ListenUnix(path, {.backlog = 8, .nonblocking = true}), "--api-sock"));
  std::unique_ptr<ControlSocket> sock(new ControlSocket(path, loop, std::move(handlers)));
  sock->listen_fd_ = std::move(fd);
  ControlSocket* raw = sock.get();  // the destructor removes the callbacks
  UVM_CHECK(loop.Add(raw->listen_fd_.get(), EPOLLIN, [raw](uint32_t) { raw->Accept(); }));
  return sock;
}

ControlSocket::~ControlSocket() {
  for (auto& client : clients_) loop_.Remove(client->fd.get());
  if (listen_fd_.valid()) {
    loop_.Remove(listen_fd_.get());
    ::unlink(path_.c_str());
  }
}

void ControlSocket::Accept() {
  for (;;) {
    UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) return;  // EAGAIN: no more (other errors: the client is gone)
    const int raw_fd = fd.get();
    auto client = std::make_unique<Client>();
    client->fd = std::move(fd);
    clients_.push_back(std::move(client));
    auto added = loop_.Add(raw_fd, EPOLLIN, [this, raw_fd](uint32_t) { OnReadable(raw_fd); });
    if (!added) {
      Log(LogLevel::kWarn, "--api-sock: " + added.error().message);
      clients_.pop_back();
    }
  }
}

void ControlSocket::Drop(int fd) {
  loop_.Remove(fd);
  std::erase_if(clients_, [fd](const auto& c) { return c->fd.get() == fd; });
}

void ControlSocket::OnReadable(int fd) {
  // Callbacks may run once after Drop() (event_loop.h): look the client up rather than trust fd.
  auto it = std::find_if(clients_.begin(), clients_.end(),
                         [fd](const auto& c) { return c->fd.get() == fd; });
  if (it == clients_.end()) return;
  Client& client = **it;
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return Drop(fd);
  client.line.append(buf, static_cast<size_t>(n));
  const size_t newline = client.line.find('\n');
  if (newline == std::string::npos) {
    if (client.line.size() > kMaxLine) {
      WriteLine(fd, "ERROR the request line is too long\n");
      Drop(fd);
    }
    return;
  }
  auto request = ParseControlRequest(std::string_view(client.line).substr(0, newline));
  if (!request) {
    WriteLine(fd, "ERROR " + OneLine(request.error().message) + "\n");
    return Drop(fd);
  }
  if (request->kind != ControlRequest::Kind::kSave) {
    const bool pause = request->kind == ControlRequest::Kind::kPause;
    const auto& handler = pause ? handlers_.pause : handlers_.resume;
    Result<void> done = handler ? handler() : Err("this VM cannot be paused");
    WriteLine(fd, done ? std::string("OK\n") : "ERROR " + OneLine(done.error().message) + "\n");
    return Drop(fd);
  }
  {
    std::lock_guard lock(mu_);
    if (save_dir_) {
      WriteLine(fd, "ERROR a save is already under way\n");
      return Drop(fd);
    }
    save_dir_ = request->save_dir;
    save_client_ = std::move(client.fd);
  }
  loop_.Remove(fd);
  std::erase_if(clients_, [](const auto& c) { return !c->fd.valid(); });
  if (!handlers_.stop_for_save()) {
    std::lock_guard lock(mu_);
    WriteLine(save_client_.get(), "ERROR the VM is already stopping\n");
    save_client_.Reset();
    // save_dir_ stays set: no later request may start a save of a VM that is ending.
  }
}

std::optional<std::string> ControlSocket::pending_save_dir() const {
  std::lock_guard lock(mu_);
  if (!save_client_.valid()) return std::nullopt;
  return save_dir_;
}

void ControlSocket::FinishSave(const Result<void>& outcome) {
  std::lock_guard lock(mu_);
  if (!save_client_.valid()) return;
  WriteLine(save_client_.get(),
            outcome ? std::string("OK\n") : "ERROR " + OneLine(outcome.error().message) + "\n");
  save_client_.Reset();
}

}  // namespace uvm::vmm
