// A 16550A-compatible UART (the guest's console, COM1 at 0x3f8, IRQ 4). Transmitted bytes go
// straight to the sink, so the transmitter is always empty; received bytes wait in a bounded FIFO
// until the guest reads them. Register semantics follow the National Semiconductor PC16550D data
// sheet.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "base/result.h"
#include "devices/bus.h"

namespace uvm::devices {

// The UART's registers and receive FIFO, as plain data for snapshots (vmm/snapshot/
// device_state.h encodes it). LSR, MSR and IIR are computed from these and not kept; neither is
// the interrupt line's level, which follows from them.
struct SerialState {
  uint8_t ier = 0, lcr = 0, mcr = 0, scr = 0, dll = 0x0c, dlm = 0;
  bool fifo_enabled = false;
  bool thre_pending = false;  // a "transmitter empty" interrupt not yet seen in IIR
  std::vector<uint8_t> rx;    // received bytes the guest has not read, oldest first

  bool operator==(const SerialState&) const = default;
};

class Serial : public BusDevice {
 public:
  using Sink = std::function<void(std::span<const uint8_t>)>;
  using Irq = std::function<void()>;  // one interrupt edge on the UART's line

  static constexpr uint16_t kCom1Port = 0x3f8;
  static constexpr uint16_t kCom1Irq = 4;
  static constexpr uint64_t kPortCount = 8;
  static constexpr size_t kRxCapacity = 4096;

  Serial(Sink sink, Irq irq) : sink_(std::move(sink)), irq_(std::move(irq)) {}

  void Read(uint64_t offset, std::span<uint8_t> data) override;
  void Write(uint64_t offset, std::span<const uint8_t> data) override;

  // Host input for the guest. Returns how many bytes were taken: fewer when the FIFO is full, none
  // while the guest has the receive interrupt disabled (no reader yet).
  size_t EnqueueInput(std::span<const uint8_t> bytes);
  size_t RxSpace();

  // Snapshots. RestoreState() refuses, changing nothing, what no guest write or host input can
  // produce (ValidateState()); it raises no interrupt: a pending one is in the restored interrupt
  // controller, and the line counts as asserted while the restored state has one pending.
  SerialState SaveState() const;
  Result<void> RestoreState(const SerialState& s);
  static Result<void> ValidateState(const SerialState& s);

 private:
  uint8_t ReadRegister(uint64_t offset);
  void WriteRegister(uint64_t offset, uint8_t value);
  uint8_t InterruptId() const;
  void UpdateInterrupt();

  Sink sink_;
  Irq irq_;
  mutable std::mutex mu_;
  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0x0c, dlm_ = 0;
  bool fifo_enabled_ = false;
  bool thre_pending_ = false;  // "transmitter empty" interrupt waiting to be seen in IIR
  bool irq_asserted_ = false;
};

}  // namespace uvm::devices
