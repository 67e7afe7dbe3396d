#include "store/tree_copy.h"

#include <archive.h>
#include <archive_entry.h>
#include <limits.h>
#include <stdlib.h>

#include <memory>

#include "base/sha256.h"

namespace uvm::store {
namespace {

std::string ArchiveError(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
}

void HashHeader(Sha256& h, const std::string& rel, archive_entry* e) {
  const char* link = archive_entry_symlink(e);
  const char* hard = archive_entry_hardlink(e);
  std::string line =
      rel + '\0' + std::to_string(archive_entry_mode(e)) + ' ' +
      std::to_string(archive_entry_uid(e)) + ' ' + std::to_string(archive_entry_gid(e)) + ' ' +
      std::to_string(archive_entry_size(e)) + ' ' + std::to_string(archive_entry_rdev(e)) + ' ' +
      std::to_string(archive_entry_mtime(e)) + '\0' + (link ? link : "") + '\0' +
      (hard ? hard : "") + '\n';
  h.Update(line);
}

}  // namespace

Result<std::string> CopyTree(const std::string& src_path, const std::string& root,
                             const ApplyOptions& options) {
  // The walk does not follow symlinks, so start from the directory a symlinked path names.
  char real[PATH_MAX];
  if (!::realpath(src_path.c_str(), real)) return ErrnoErr(src_path);
  const std::string src = real;
  std::unique_ptr<archive, int (*)(archive*)> disk(archive_read_disk_new(), archive_read_free);
  std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(),
                                                                 archive_entry_free);
  std::unique_ptr<archive_entry_linkresolver, void (*)(archive_entry_linkresolver*)> links(
      archive_entry_linkresolver_new(), archive_entry_linkresolver_free);
  if (!disk || !entry || !links) return Err("libarchive: out of memory");
  // Tar's rule for hard links: the first name carries the data, later names link to it.
  archive_entry_linkresolver_set_strategy(links.get(), ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
  archive_read_disk_set_symlink_physical(disk.get());
  archive_read_disk_set_behavior(disk.get(), ARCHIVE_READDISK_NO_ACL | ARCHIVE_READDISK_NO_FFLAGS);
  if (archive_read_disk_open(disk.get(), src.c_str()) != ARCHIVE_OK) {
    return Err(src + ": " + ArchiveError(disk.get()));
  }
  UVM_TRY(TreeWriter writer, TreeWriter::Create(root, options));
  Sha256 hash;
  const std::string prefix = src.ends_with('/') ? src : src + "/";
  for (;;) {
    int r = archive_read_next_header2(disk.get(), entry.get());
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return Err(src + ": " + ArchiveError(disk.get()));
    archive_read_disk_descend(disk.get());
    std::string path = archive_entry_pathname(entry.get());
    std::string rel = path == src || path + "/" == prefix ? "" : path;
    if (!rel.empty()) {
      if (!path.starts_with(prefix)) return Err(src + ": unexpected entry " + path);
      rel = path.substr(prefix.size());
    }
    archive_entry_set_pathname(entry.get(), rel.empty() ? "." : rel.c_str());
    archive_entry* out = entry.get();
    archive_entry* spare = nullptr;
    archive_entry_linkify(links.get(), &out, &spare);
    if (out) {
      if (const char* hard = archive_entry_hardlink(out)) {
        // The resolver reports the first name as given; make it relative like the rest.
        std::string h = hard;
        if (h.starts_with(prefix)) archive_entry_set_hardlink(out, h.substr(prefix.size()).c_str());
      }
      HashHeader(hash, archive_entry_pathname(out), out);
      UVM_CHECK(Context(writer.Write(out, disk.get(), &hash), src));
    }
  }
  UVM_CHECK(writer.Finish());
  return "sha256:" + hash.FinishHex();
}

}  // namespace uvm::store
