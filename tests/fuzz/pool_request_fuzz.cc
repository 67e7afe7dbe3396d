// Fuzzes the VM pool's parsers (runtime/pool/protocol.h): a request line from a local client of
// `uvm pool`'s socket, and the replies `uvm run` and `uvm pool` read back. Each must return a
// value or an error for any bytes, never throw, crash or read out of bounds; a request that is
// accepted must encode to a line that parses back to the same request.
//
// Input layout: byte 0 picks the parser (mod 3), the rest is the line.
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/pool/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace uvm::runtime;
  if (size < 1) return 0;
  const std::string line(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto request = ParsePoolRequest(line);
      if (!request) return 0;
      std::string encoded = EncodePoolRequest(*request);
      if (encoded.empty() || encoded.back() != '\n') __builtin_trap();
      encoded.pop_back();
      auto again = ParsePoolRequest(encoded);
      if (!again || again->op != request->op || again->key != request->key ||
          again->shape.kernel != request->shape.kernel ||
          again->shape.memory_mib != request->shape.memory_mib ||
          again->shape.cpus != request->shape.cpus ||
          again->shape.image_disk != request->shape.image_disk) {
        __builtin_trap();
      }
      return 0;
    }
    case 1:
      (void)ParseClaimReply(line);
      return 0;
    default:
      (void)ParsePoolStatus(line);
      return 0;
  }
}
