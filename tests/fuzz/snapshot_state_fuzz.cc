// libFuzzer target: ParseState() on arbitrary bytes, the parser of a snapshot's `state` file
// (vmm/snapshot/state_file.h), which restore treats as hostile input. Each input is parsed twice:
// as given (framing, magic, version, CRC) and with its last four bytes replaced by the right CRC,
// so mutations reach the section and field checks behind the CRC. Whatever parses must serialise
// back to a file that parses to the same bytes again: nothing the parser accepts is lost.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "vmm/snapshot/format.h"
#include "vmm/snapshot/state_file.h"

namespace snap = uvm::vmm::snapshot;

namespace {

void CheckRoundTrip(const snap::SnapshotState& s) {
  std::vector<uint8_t> again = snap::SerializeState(s);
  auto reparsed = snap::ParseState(again);
  if (!reparsed || snap::SerializeState(*reparsed) != again) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  if (auto s = snap::ParseState(bytes)) CheckRoundTrip(*s);
  if (bytes.size() >= 4) {
    uint32_t crc = snap::Crc32(std::span(bytes).first(bytes.size() - 4));
    std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
    if (auto s = snap::ParseState(bytes)) CheckRoundTrip(*s);
  }
  return 0;
}
