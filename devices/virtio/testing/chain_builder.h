// Test helper: a Chain whose buffers are separate heap blocks, so ASan sees any step outside one.
// For parser tests that need a Chain without rings (queue tests use FakeDriver instead).
#pragma once

#include <cstring>
#include <memory>
#include <vector>

#include "devices/virtio/chain.h"

namespace uvm::devices::virtio::testing {

class ChainBuilder {
 public:
  ChainBuilder& Readable(std::vector<uint8_t> bytes) {
    chain_.readable.push_back(Store(std::move(bytes)));
    return *this;
  }
  ChainBuilder& Writable(size_t len, uint8_t fill = 0xee) {
    chain_.writable.push_back(Store(std::vector<uint8_t>(len, fill)));
    return *this;
  }
  const Chain& chain() const { return chain_; }
  uint8_t* readable(size_t i) const { return chain_.readable[i].host; }
  uint8_t* writable(size_t i) const { return chain_.writable[i].host; }

 private:
  ChainBuffer Store(std::vector<uint8_t> bytes) {
    const uint32_t len = static_cast<uint32_t>(bytes.size());
    auto block = std::make_unique<uint8_t[]>(len == 0 ? 1 : len);
    if (len > 0) std::memcpy(block.get(), bytes.data(), len);
    // Distinct, plausible guest addresses; nothing dereferences them.
    ChainBuffer b{0x1000 * (storage_.size() + 1), block.get(), len};
    storage_.push_back(std::move(block));
    return b;
  }
  Chain chain_;
  std::vector<std::unique_ptr<uint8_t[]>> storage_;
};

}  // namespace uvm::devices::virtio::testing
