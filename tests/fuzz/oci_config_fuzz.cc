// libFuzzer target: what an engine hands uvm-runtime, all of it untrusted: the command line (a
// NUL-separated word list), a bundle's config.json (its isolation, and its rewrite for a VM), and
// the state record uvm-runtime reads back. Each parser returns a value or a one-line error for any
// bytes, never throws, crashes or reads out of bounds.
//
// Input layout: byte 0 picks the parser (odd: the command line; 0 mod 4: config.json; 2 mod 4:
// the state record), the rest is the input.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "oci/bundle_isolation.h"
#include "oci/runtime_args.h"
#include "oci/vm_bundle.h"
#include "oci/vm_state.h"

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
      CheckOneLine(ParseCommandLine(args->command, args->command_args));
      for (const auto& w : args->command_args) (void)ParseSignal(w);
    }
  } else if ((data[0] & 3) == 0) {
    CheckOneLine(IsolationOfConfig(input, std::nullopt));
    // Paths are what their last character says: d a directory, f a file, m missing, else other.
    auto kind_of = [](const std::string& path) {
      switch (path.empty() ? 'o' : path.back()) {
        case 'd':
          return PathKind::kDirectory;
        case 'f':
          return PathKind::kFile;
        case 'm':
          return PathKind::kMissing;
        default:
          return PathKind::kOther;
      }
    };
    auto tag = [](int i) { return "uvmfs" + std::to_string(i); };
    auto vm = PlanVmBundle(input, "/bundle", tag, 6, "/state/files", kind_of);
    CheckOneLine(vm);
    if (vm && (vm->shares.size() > 6 || vm->shares.size() != vm->guest.shares.size())) {
      __builtin_trap();
    }
    // A bound file lands in the container's own files directory, never beside it.
    if (vm) {
      for (const auto& b : vm->file_binds) {
        if (b.target.rfind("/state/files/r", 0) != 0 || b.target.find("/..") != std::string::npos) {
          __builtin_trap();
        }
      }
    }
  } else {
    auto record = ParseRecord(input);
    CheckOneLine(record);
    if (record) (void)StateJson(*record, VmStatus::kRunning);
    (void)LiveProcessStartFromStat(input);
    CheckOneLine(ParseJsonArrayOfInts(input));
  }
  return 0;
}
