// Just enough of the i8042 keyboard controller for a guest to reset the machine: Linux's `reboot=k`
// waits for the input buffer to drain (status bit 1 clear), then writes command 0xfe ("pulse the
// reset line") to port 0x64. Everything else reads as an idle controller with no keyboard.
#pragma once

#include <functional>

#include "devices/bus.h"

namespace uvm::devices {

class I8042 : public BusDevice {
 public:
  static constexpr uint16_t kDataPort = 0x60;
  static constexpr uint16_t kCommandPort = 0x64;
  static constexpr uint8_t kCmdResetCpu = 0xfe;

  explicit I8042(std::function<void()> on_reset) : on_reset_(std::move(on_reset)) {}

  // Registered for ports 0x60..0x64; offsets 0 (data) and 4 (status/command) matter.
  void Read(uint64_t offset, std::span<uint8_t> data) override;
  void Write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  std::function<void()> on_reset_;
};

// The guest's paravirtual "power off with status": a byte written to the port ends the VM and uvm
// exits with that byte as its status. The port (0xf4) and one-byte protocol match QEMU's
// isa-debug-exit device as commonly configured, so the same guest init can end either VMM.
class DebugExit : public BusDevice {
 public:
  static constexpr uint16_t kPort = 0xf4;

  explicit DebugExit(std::function<void(uint8_t)> on_exit) : on_exit_(std::move(on_exit)) {}

  void Read(uint64_t, std::span<uint8_t> data) override {
    for (auto& b : data) b = 0;
  }
  void Write(uint64_t offset, std::span<const uint8_t> data) override {
    if (offset == 0 && !data.empty()) on_exit_(data[0]);
  }

 private:
  std::function<void(uint8_t)> on_exit_;
};

}  // namespace uvm::devices
