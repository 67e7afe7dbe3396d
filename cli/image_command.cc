// `uvm image import SOURCE NAME | ls | rm NAME`: the image store from the shell.
#include <cstdio>

#include "cli/command.h"
#include "runtime/paths.h"
#include "runtime/template_store.h"
#include "store/image_store.h"

namespace uvm::cli {
namespace {

struct ImageOptions {
  std::string source;
  std::string name;
};

std::string ShortDigest(const std::string& digest) {
  return digest.substr(0, std::min<size_t>(digest.size(), 7 + 12));
}

std::string Size(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

Result<int> RunImageImport(const std::string& root, const ImageOptions& o) {
  UVM_TRY(store::ImageStore s, store::ImageStore::Open(root, runtime::BuiltinImagesDir()));
  UVM_TRY(store::ImageRecord r, s.Import(o.source, o.name));
  // An image imported over another of the same name leaves that one's templates without a use.
  UVM_CHECK(runtime::TemplateStore(root).RemoveStale());
  std::printf("%s %s\n", r.name.c_str(), r.digest.c_str());
  return 0;
}

Result<int> RunImageList(const std::string& root) {
  UVM_TRY(store::ImageStore s, store::ImageStore::Open(root, runtime::BuiltinImagesDir()));
  UVM_TRY(std::vector<store::ImageRecord> all, s.List());
  std::printf("%-30s %-19s %10s  %s\n", "NAME", "DIGEST", "SIZE", "SOURCE");
  for (const store::ImageRecord& r : all) {
    std::printf("%-30s %-19s %10s  %s\n", r.name.c_str(), ShortDigest(r.digest).c_str(),
                Size(r.disk_bytes).c_str(), r.source.c_str());
  }
  return 0;
}

Result<int> RunImageRemove(const std::string& root, const ImageOptions& o) {
  UVM_TRY(store::ImageStore s, store::ImageStore::Open(root, runtime::BuiltinImagesDir()));
  UVM_CHECK(s.Remove(o.name));
  // The templates prepared for that image go with it (their memory files are 256 MiB or more).
  UVM_CHECK(runtime::TemplateStore(root).RemoveStale());
  return 0;
}

}  // namespace

void RegisterImageCommand(CommandTable& table) {
  auto o = std::make_shared<ImageOptions>();
  const GlobalOptions& g = table.global;
  auto cmd = table.root.Sub("image", "Import, list and remove container images");
  cmd.NeedsSubcommand();
  auto import =
      cmd.Sub("import",
              "Import SOURCE as NAME: oci:DIR, oci-archive:TAR, docker-archive:TAR (each with "
              "an optional :REF), a rootfs tar or a directory");
  import.Option("source", o->source, "image source").Required();
  import.Option("name", o->name, "image name").Required();
  OnParsed(import, table, [o, &g] { return RunImageImport(g.root, *o); });
  auto ls = cmd.Sub("ls", "List the images in the store");
  OnParsed(ls, table, [&g] { return RunImageList(g.root); });
  auto rm = cmd.Sub("rm", "Remove an image");
  rm.Option("name", o->name, "image name").Required();
  OnParsed(rm, table, [o, &g] { return RunImageRemove(g.root, *o); });
}

}  // namespace uvm::cli
