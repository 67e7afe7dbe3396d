#include "vmm/console.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cstring>

namespace uvm::vmm {
namespace {
constexpr uint8_t kEscapeKey = 0x01;  // Ctrl-A
constexpr char kPanicBanner[] = "Kernel panic - not syncing";
}  // namespace

void PanicWatcher::Feed(std::span<const uint8_t> bytes) {
  for (uint8_t b : bytes) {
    if (b == '\n') {
      if (line_.find(kPanicBanner) != std::string::npos) panicked_ = true;
      line_.clear();
    } else if (line_.size() < 512) {
      line_.push_back(static_cast<char>(b));
    }
  }
  if (line_.find(kPanicBanner) != std::string::npos) panicked_ = true;
}

ConsoleInput::~ConsoleInput() {
  if (raw_) tcsetattr(in_fd_, TCSANOW, &saved_);
}

Result<void> ConsoleInput::Start(EventLoop& loop) {
  loop_ = &loop;
  if (isatty(in_fd_) && tcgetattr(in_fd_, &saved_) == 0) {
    termios raw = saved_;
    cfmakeraw(&raw);
    raw.c_oflag = saved_.c_oflag;  // keep output processing: the guest sends \r\n itself anyway
    if (tcsetattr(in_fd_, TCSANOW, &raw) == 0) raw_ = true;
  }
  auto r = loop.Add(in_fd_, EPOLLIN, [this](uint32_t) { ReadInput(); });
  if (!r) {
    // A regular file or /dev/null cannot be polled: read it all now, feed it as space allows.
    if (errno != EPERM) return r;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(in_fd_, buf, sizeof buf)) > 0) pending_.append(buf, static_cast<size_t>(n));
    eof_ = true;
    OnTick();
    return {};
  }
  watching_ = true;
  return {};
}

void ConsoleInput::ReadInput() {
  uint8_t buf[512];
  ssize_t n = ::read(in_fd_, buf, sizeof buf);
  if (n <= 0) {
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    eof_ = true;  // no more input: stop polling, or the loop would spin on the closed fd
    loop_->Remove(in_fd_);
    watching_ = false;
    return;
  }
  for (ssize_t i = 0; i < n; ++i) {
    uint8_t c = buf[i];
    if (raw_ && escape_) {
      escape_ = false;
      if (c == 'x' || c == 'X') {
        on_quit_();
        return;
      }
      if (c != kEscapeKey) continue;  // unknown escape: dropped, like QEMU
    } else if (raw_ && c == kEscapeKey) {
      escape_ = true;
      continue;
    }
    pending_.push_back(static_cast<char>(c));
  }
  OnTick();
}

void ConsoleInput::OnTick() {
  if (!pending_.empty()) {
    size_t taken = serial_.EnqueueInput(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(pending_.data()), pending_.size()));
    pending_.erase(0, taken);
  }
  // Back-pressure: stop reading the host while bytes are waiting for the guest.
  if (watching_ && !pending_.empty()) {
    loop_->Remove(in_fd_);
    watching_ = false;
  } else if (!watching_ && !eof_ && pending_.empty()) {
    if (loop_->Add(in_fd_, EPOLLIN, [this](uint32_t) { ReadInput(); })) watching_ = true;
  }
}

}  // namespace uvm::vmm
