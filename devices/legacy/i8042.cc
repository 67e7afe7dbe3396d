#include "devices/legacy/i8042.h"

namespace uvm::devices {

void I8042::Read(uint64_t, std::span<uint8_t> data) {
  // Status 0: output buffer empty, input buffer empty; data port: nothing to read.
  for (auto& b : data) b = 0;
}

void I8042::Write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset == kCommandPort - kDataPort && data.size() == 1 && data[0] == kCmdResetCpu) {
    on_reset_();
  }
}

}  // namespace uvm::devices
