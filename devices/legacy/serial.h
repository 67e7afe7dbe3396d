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

#include "devices/bus.h"

namespace uvm::devices {

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

 private:
  uint8_t ReadRegister(uint64_t offset);
  void WriteRegister(uint64_t offset, uint8_t value);
  uint8_t InterruptId() const;
  void UpdateInterrupt();

  Sink sink_;
  Irq irq_;
  std::mutex mu_;
  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0x0c, dlm_ = 0;
  bool fifo_enabled_ = false;
  bool thre_pending_ = false;  // "transmitter empty" interrupt waiting to be seen in IIR
  bool irq_asserted_ = false;
};

}  // namespace uvm::devices
