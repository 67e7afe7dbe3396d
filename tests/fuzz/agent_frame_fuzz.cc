// Fuzzes the agent protocol decoder (guest-agent/protocol): bytes from a peer are framed, decoded
// as JSON and checked field by field. Whatever decodes must encode again and decode to the same
// JSON text (nothing accepted that the encoder cannot represent).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "guest-agent/protocol/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace uvm::agent;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);

  // The first byte picks how the stream is split, to exercise partial frames.
  size_t step = size ? (static_cast<uint8_t>(bytes[0]) % 17) + 1 : 1;
  FrameDecoder decoder;
  for (size_t i = 0; i < size; i += step) {
    decoder.Feed(bytes.substr(i, step));
    for (;;) {
      auto m = decoder.Next();
      if (!m || !m->has_value()) break;
      auto again = EncodeMessage(**m);
      if (!again) abort();
      auto decoded = DecodeMessage(*again);
      if (!decoded) abort();
      if (*EncodeMessage(*decoded) != *again) abort();
    }
    if (!decoder.Next()) break;  // failed for good
  }
  (void)DecodeMessage(bytes);
  return 0;
}
