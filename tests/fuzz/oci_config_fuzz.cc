// libFuzzer target: what an engine hands uvm-runtime, all of it untrusted: the command line (a
// NUL-separated word list) and a bundle's config.json. Each parser returns a value or a one-line
// error for any bytes, never throws, crashes or reads out of bounds.
//
// Input layout: byte 0 picks the parser (odd: the command line, even: config.json), the rest is
// the input.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "oci/bundle_isolation.h"
#include "oci/runtime_args.h"

namespace {

template <class T>
void CheckOneLine(const uvm::Result<T>& r) {
  if (!r && r.error().message.find('\n') != std::string::npos) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace uvm::oci;
  if (size < 1) return 0;
  const std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    std::vector<std::string> words;
    for (size_t at = 0; at <= input.size();) {
      const size_t end = std::min(input.find('\0', at), input.size());
      words.push_back(input.substr(at, end - at));
      at = end + 1;
    }
    auto args = ParseRuntimeArgs(words);
    CheckOneLine(args);
    if (args) {
      (void)ContainerId(args->command, args->command_args);
      (void)BundleDir(args->command_args);
    }
  } else {
    CheckOneLine(IsolationOfConfig(input, std::nullopt));
  }
  return 0;
}
