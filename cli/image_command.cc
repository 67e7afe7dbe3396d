#include "cli/image_command.h"

#include <cstdio>
#include <ctime>

#include "runtime/paths.h"
#include "runtime/template_store.h"
#include "store/image_store.h"

namespace uvm::cli {
namespace {

std::string ShortDigest(const std::string& digest) {
  return digest.substr(0, std::min<size_t>(digest.size(), 7 + 12));
}

std::string Size(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

}  // namespace

Result<int> RunImageImport(const ImageOptions& o) {
  UVM_TRY(store::ImageStore s, store::ImageStore::Open(o.root, runtime::BuiltinImagesDir()));
  UVM_TRY(store::ImageRecord r, s.Import(o.source, o.name));
  // An image imported over another of the same name leaves that one's templates without a use.
  UVM_CHECK(runtime::TemplateStore(o.root).RemoveStale());
  std::printf("%s %s\n", r.name.c_str(), r.digest.c_str());
  return 0;
}

Result<int> RunImageList(const ImageOptions& o) {
  UVM_TRY(store::ImageStore s, store::ImageStore::Open(o.root, runtime::BuiltinImagesDir()));
  UVM_TRY(std::vector<store::ImageRecord> all, s.List());
  std::printf("%-30s %-19s %10s  %s\n", "NAME", "DIGEST", "SIZE", "SOURCE");
  for (const store::ImageRecord& r : all) {
    std::printf("%-30s %-19s %10s  %s\n", r.name.c_str(), ShortDigest(r.digest).c_str(),
                Size(r.disk_bytes).c_str(), r.source.c_str());
  }
  return 0;
}

Result<int> RunImageRemove(const ImageOptions& o) {
  UVM_TRY(store::ImageStore s, store::ImageStore::Open(o.root, runtime::BuiltinImagesDir()));
  UVM_CHECK(s.Remove(o.name));
  // The templates prepared for that image go with it (their memory files are 256 MiB or more).
  UVM_CHECK(runtime::TemplateStore(o.root).RemoveStale());
  return 0;
}

}  // namespace uvm::cli
