#include "devices/legacy/serial.h"

#include <string>

namespace uvm::devices {
namespace {
// Register offsets (DLAB = LCR bit 7 selects the divisor latch at 0 and 1).
constexpr uint64_t kData = 0, kIer = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6,
                   kScr = 7;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kIerRxAvailable = 0x01, kIerThrEmpty = 0x02, kIerMask = 0x0f;
constexpr uint8_t kIirNone = 0x01, kIirThrEmpty = 0x02, kIirRxAvailable = 0x04,
                  kIirFifoEnabled = 0xc0;
constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02;
constexpr uint8_t kLsrDataReady = 0x01, kLsrThrEmpty = 0x20, kLsrTxIdle = 0x40;
constexpr uint8_t kMcrLoop = 0x10, kMcrMask = 0x1f;
// Modem status with no modem attached: carrier detect, data set ready and clear to send, so
// software that waits for flow control does not stall.
constexpr uint8_t kMsrDefault = 0x80 | 0x20 | 0x10;
}  // namespace

void Serial::Read(uint64_t offset, std::span<uint8_t> data) {
  if (data.size() != 1) {  // the UART has 8-bit registers; wider accesses read as zero
    for (auto& b : data) b = 0;
    return;
  }
  std::lock_guard lock(mu_);
  data[0] = ReadRegister(offset);
  UpdateInterrupt();
}

void Serial::Write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.size() != 1) return;
  uint8_t out = 0;
  bool transmit = false;
  {
    std::lock_guard lock(mu_);
    if (offset == kData && !(lcr_ & kLcrDlab) && !(mcr_ & kMcrLoop)) {
      transmit = true;
      out = data[0];
      thre_pending_ = true;
    } else {
      WriteRegister(offset, data[0]);
    }
    UpdateInterrupt();
  }
  // Outside the lock: the sink may block (a full stdout pipe) and must not stall the input side.
  if (transmit) sink_(std::span<const uint8_t>(&out, 1));
}

uint8_t Serial::ReadRegister(uint64_t offset) {
  switch (offset) {
    case kData:
      if (lcr_ & kLcrDlab) return dll_;
      if (rx_.empty()) return 0;
      {
        uint8_t b = rx_.front();
        rx_.pop_front();
        return b;
      }
    case kIer:
      return (lcr_ & kLcrDlab) ? dlm_ : ier_;
    case kIirFcr: {
      uint8_t id = InterruptId();
      // Reading IIR while it reports "transmitter empty" acknowledges that interrupt (16550D).
      if (id == kIirThrEmpty) thre_pending_ = false;
      return id | (fifo_enabled_ ? kIirFifoEnabled : 0);
    }
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr:
      return static_cast<uint8_t>((rx_.empty() ? 0 : kLsrDataReady) | kLsrThrEmpty | kLsrTxIdle);
    case kMsr:
      if (mcr_ & kMcrLoop) {
        // Loopback wires DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
        return static_cast<uint8_t>(((mcr_ & 0x01) << 5) | ((mcr_ & 0x02) << 3) |
                                    ((mcr_ & 0x04) << 4) | ((mcr_ & 0x08) << 4));
      }
      return kMsrDefault;
    case kScr:
      return scr_;
    default:
      return 0;
  }
}

void Serial::WriteRegister(uint64_t offset, uint8_t value) {
  switch (offset) {
    case kData:
      if (lcr_ & kLcrDlab) {
        dll_ = value;
      } else if (mcr_ & kMcrLoop && rx_.size() < kRxCapacity) {
        rx_.push_back(value);  // loopback: what is sent is received
        thre_pending_ = true;
      }
      break;
    case kIer:
      if (lcr_ & kLcrDlab) {
        dlm_ = value;
      } else {
        // Enabling the THR-empty interrupt while the transmitter is empty raises it at once.
        if ((value & kIerThrEmpty) && !(ier_ & kIerThrEmpty)) thre_pending_ = true;
        ier_ = value & kIerMask;
      }
      break;
    case kIirFcr:
      fifo_enabled_ = value & kFcrEnable;
      if (value & kFcrClearRx) rx_.clear();
      break;
    case kLcr:
      lcr_ = value;
      break;
    case kMcr:
      mcr_ = value & kMcrMask;
      break;
    case kScr:
      scr_ = value;
      break;
    default:  // LSR and MSR are read-only
      break;
  }
}

uint8_t Serial::InterruptId() const {
  if ((ier_ & kIerRxAvailable) && !rx_.empty()) return kIirRxAvailable;
  if ((ier_ & kIerThrEmpty) && thre_pending_) return kIirThrEmpty;
  return kIirNone;
}

void Serial::UpdateInterrupt() {
  // The ISA line is edge-triggered: signal on each transition to "interrupt pending".
  bool pending = InterruptId() != kIirNone;
  if (pending && !irq_asserted_) irq_();
  irq_asserted_ = pending;
}

size_t Serial::EnqueueInput(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mu_);
  // Until the guest enables the receive interrupt nobody is listening: Linux's 8250 driver clears
  // the FIFO when a tty opens, so earlier bytes would be lost. They wait on the host instead.
  if (!(ier_ & kIerRxAvailable)) return 0;
  size_t n = 0;
  while (n < bytes.size() && rx_.size() < kRxCapacity) rx_.push_back(bytes[n++]);
  if (n > 0 && (ier_ & kIerRxAvailable)) {
    // New data is a new event for the guest even if an older one is still pending.
    irq_asserted_ = false;
  }
  UpdateInterrupt();
  return n;
}

size_t Serial::RxSpace() {
  std::lock_guard lock(mu_);
  return kRxCapacity - rx_.size();
}

SerialState Serial::SaveState() const {
  std::lock_guard lock(mu_);
  SerialState s{ier_, lcr_, mcr_, scr_, dll_, dlm_, fifo_enabled_, thre_pending_, {}};
  s.rx.assign(rx_.begin(), rx_.end());
  return s;
}

Result<void> Serial::ValidateState(const SerialState& s) {
  // WriteRegister() keeps only IER's four interrupt enables and MCR's five control bits; LCR,
  // SCR and the divisor latch take any byte.
  if (s.ier & ~kIerMask) return Err("serial state: IER has bits the UART does not keep");
  if (s.mcr & ~kMcrMask) return Err("serial state: MCR has bits the UART does not keep");
  if (s.rx.size() > kRxCapacity) {
    return Err("serial state: " + std::to_string(s.rx.size()) +
               " received bytes, more than the FIFO holds (" + std::to_string(kRxCapacity) + ")");
  }
  return {};
}

Result<void> Serial::RestoreState(const SerialState& s) {
  UVM_CHECK(ValidateState(s));
  std::lock_guard lock(mu_);
  ier_ = s.ier;
  lcr_ = s.lcr;
  mcr_ = s.mcr;
  scr_ = s.scr;
  dll_ = s.dll;
  dlm_ = s.dlm;
  fifo_enabled_ = s.fifo_enabled;
  thre_pending_ = s.thre_pending;
  rx_.assign(s.rx.begin(), s.rx.end());
  irq_asserted_ = InterruptId() != kIirNone;
  return {};
}

}  // namespace uvm::devices
