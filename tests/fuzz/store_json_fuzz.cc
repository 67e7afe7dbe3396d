// libFuzzer target: the image store's parsers of image metadata, all of which come from whoever
// made the image (image-spec index, manifest and config; docker-archive manifest.json) or from
// the store's own record files. Each must return a value or a one-line error for any bytes,
// never throw, crash or read out of bounds.
//
// Input layout: byte 0 picks the parser (mod 5), the rest is the document.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "store/docker_archive.h"
#include "store/image_config.h"
#include "store/image_record.h"
#include "store/oci_layout.h"

namespace uvm::store {
namespace {

template <class T>
void CheckOneLine(const Result<T>& r) {
  if (!r && r.error().message.find('\n') != std::string::npos) __builtin_trap();
}

}  // namespace
}  // namespace uvm::store

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace uvm::store;
  if (size < 1) return 0;
  std::string_view doc(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 5) {
    case 0: {
      auto r = ParseIndex(doc);
      CheckOneLine(r);
      if (r) {
        CheckOneLine(SelectManifest(*r, ""));
        CheckOneLine(SelectManifest(*r, "latest"));
      }
      break;
    }
    case 1: {
      auto r = ParseManifest(doc);
      CheckOneLine(r);
      break;
    }
    case 2: {
      auto r = ParseImageConfig(doc);
      CheckOneLine(r);
      break;
    }
    case 3: {
      auto r = ParseDockerManifest(doc);
      CheckOneLine(r);
      break;
    }
    case 4: {
      auto r = ParseImageRecord(doc);
      CheckOneLine(r);
      // What the store writes it must read back.
      if (r && !ParseImageRecord(SerializeImageRecord(*r))) __builtin_trap();
      break;
    }
  }
  return 0;
}
