// The guest's serial console on the host terminal: guest output to an fd (stdout), host input to
// the UART. When input is a terminal it is put in raw mode (restored on exit) so keys reach the
// guest unchanged; Ctrl-A then x stops the VM, Ctrl-A Ctrl-A sends one Ctrl-A (as in QEMU). The
// output side also watches for the Linux panic banner, the only crash signal a guest without ACPI
// or pvpanic gives.
#pragma once

#include <termios.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "base/event_loop.h"
#include "devices/legacy/serial.h"

namespace uvm::vmm {

// Scans console output for "Kernel panic - not syncing". A guest program could print that text to
// the console too; the consequence is only that uvm reports the run as a crash.
class PanicWatcher {
 public:
  void Feed(std::span<const uint8_t> bytes);
  bool panicked() const { return panicked_; }

 private:
  std::string line_;
  bool panicked_ = false;
};

class ConsoleInput {
 public:
  ConsoleInput(int in_fd, devices::Serial& serial, std::function<void()> on_escape_quit)
      : in_fd_(in_fd), serial_(serial), on_quit_(std::move(on_escape_quit)) {}
  ~ConsoleInput();

  // Raw mode (if a terminal) and registration with the loop. Input is not read while the UART's
  // FIFO is full: it waits in the host pipe instead of being dropped; OnTick() retries.
  Result<void> Start(EventLoop& loop);
  void OnTick();

 private:
  void ReadInput();
  void Deliver(std::span<const uint8_t> bytes);

  int in_fd_;
  devices::Serial& serial_;
  std::function<void()> on_quit_;
  EventLoop* loop_ = nullptr;
  bool watching_ = false;
  bool eof_ = false;
  bool raw_ = false;
  bool escape_ = false;
  termios saved_{};
  std::string pending_;  // read from the host, not yet taken by the UART
};

}  // namespace uvm::vmm
