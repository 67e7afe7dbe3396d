#include "store/layer_apply.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <memory>

#include "base/fs.h"
#include "base/log.h"
#include "base/quoted.h"

namespace uvm::store {
namespace {

// image-spec layer.md "Whiteouts".
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
// Other ".wh..wh." names are aufs bookkeeping, meaningless outside aufs.
constexpr std::string_view kAufsMetaPrefix = ".wh..wh.";

std::string Join(const std::vector<std::string>& comps, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i) out += '/';
    out += comps[i];
  }
  return out;
}

std::string Join(const std::vector<std::string>& comps) { return Join(comps, comps.size()); }

std::string ArchiveError(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
}

}  // namespace

Result<std::vector<std::string>> SplitEntryPath(std::string_view path) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view c = path.substr(pos, end - pos);
    if (c == "..") return Err(Quoted(path) + " leaves the image root (..)");
    if (!c.empty() && c != ".") out.emplace_back(c);
    pos = end + 1;
  }
  if (path.find('\0') != std::string_view::npos) return Err("entry name holds a NUL byte");
  return out;
}

Result<TreeWriter> TreeWriter::Create(const std::string& root, const ApplyOptions& options) {
  // libarchive's symlink check walks the whole path, so the root must be free of symlinks itself.
  char real[PATH_MAX];
  if (!::realpath(root.c_str(), real)) return ErrnoErr(root);
  UniqueFd fd(::open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoErr(real);
  archive* disk = archive_write_disk_new();
  if (!disk) return Err("libarchive: out of memory");
  int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_XATTR |
              ARCHIVE_EXTRACT_SPARSE | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
              ARCHIVE_EXTRACT_SECURE_NODOTDOT;
  if (options.preserve_owner) flags |= ARCHIVE_EXTRACT_OWNER;
  archive_write_disk_set_options(disk, flags);
  // No user/group name lookup: the numbers in the image are the image's, not this host's.
  return TreeWriter(real, std::move(fd), disk, options);
}

TreeWriter::TreeWriter(TreeWriter&& o) noexcept
    : root_(std::move(o.root_)),
      root_fd_(std::move(o.root_fd_)),
      disk_(std::exchange(o.disk_, nullptr)),
      options_(o.options_),
      written_(std::move(o.written_)) {}

TreeWriter::~TreeWriter() {
  if (disk_) archive_write_free(disk_);
}

Result<void> TreeWriter::Finish() {
  if (archive_write_close(disk_) != ARCHIVE_OK) {
    return Err("finishing the root filesystem: " + ArchiveError(disk_));
  }
  return {};
}

void TreeWriter::MarkWritten(const std::vector<std::string>& comps) {
  for (size_t n = 1; n <= comps.size(); ++n) written_.insert(Join(comps, n));
}

Result<UniqueFd> TreeWriter::OpenParent(const std::vector<std::string>& comps,
                                        std::string_view what) {
  std::vector<std::string> parent(comps.begin(), comps.end() - (comps.empty() ? 0 : 1));
  auto fd = OpenDirBeneath(root_fd_.get(), parent);
  if (fd) return fd;
  if (errno == ENOENT || errno == ENOTDIR) {
    // ENOTDIR: a component is a regular file; the entry then replaces it (libarchive) or, for a
    // whiteout, there is nothing below it to delete.
    struct stat st;
    bool symlink = false;
    // Tell a planted symlink apart from a missing directory, component by component.
    UniqueFd cur(::fcntl(root_fd_.get(), F_DUPFD_CLOEXEC, 0));
    for (const std::string& c : parent) {
      if (::fstatat(cur.get(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) break;
      if (S_ISLNK(st.st_mode)) {
        symlink = true;
        break;
      }
      UniqueFd next(
          ::openat(cur.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next.valid()) break;
      cur = std::move(next);
    }
    if (!symlink) return UniqueFd();
  }
  return Err(std::string(what) + " " + Quoted(Join(comps)) + " goes through a symlink");
}

Result<void> TreeWriter::Whiteout(const std::vector<std::string>& parent, const std::string& name) {
  std::vector<std::string> target = parent;
  target.push_back(name);
  // Whiteouts hide lower layers only; an entry of this same layer stays (layer.md).
  if (written_.count(Join(target))) return {};
  UVM_TRY(UniqueFd dir, OpenParent(target, "whiteout"));
  if (!dir.valid()) return {};
  return RemoveTreeAt(dir.get(), name);
}

Result<void> TreeWriter::ClearLower(int dirfd, const std::string& prefix) {
  UniqueFd fd(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoErr(prefix);
  DIR* d = ::fdopendir(fd.Release());
  if (!d) return ErrnoErr(prefix);
  std::vector<std::string> children;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") children.emplace_back(n);
  }
  Result<void> r;
  for (const std::string& c : children) {
    const std::string key = prefix.empty() ? c : prefix + "/" + c;
    if (!written_.count(key)) {
      r = RemoveTreeAt(::dirfd(d), c);
    } else {
      // Kept, but a directory this layer wrote over may still hold lower-layer entries.
      UniqueFd sub(
          ::openat(::dirfd(d), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub.valid()) r = ClearLower(sub.get(), key);
    }
    if (!r) break;
  }
  ::closedir(d);
  return r;
}

Result<void> TreeWriter::Opaque(const std::vector<std::string>& dir) {
  std::vector<std::string> probe = dir;
  probe.push_back(std::string(kOpaqueMarker));
  UVM_TRY(UniqueFd parent, OpenParent(probe, "opaque directory"));
  if (!parent.valid()) return {};
  return ClearLower(parent.get(), Join(dir));
}

Result<void> TreeWriter::Write(archive_entry* entry, archive* source, Sha256* data_hash) {
  const char* raw = archive_entry_pathname(entry);
  if (!raw) return Err("an entry has no name");
  UVM_TRY(std::vector<std::string> comps, SplitEntryPath(raw));
  const std::string key = Join(comps);
  const mode_t type = archive_entry_filetype(entry);
  const char* hardlink = archive_entry_hardlink(entry);

  if (comps.empty()) {
    // The root itself ("./"): only its mode, owner and times.
    if (type != AE_IFDIR || hardlink) return Err("the image root is not a directory");
    archive_entry_set_pathname(entry, root_.c_str());
  } else {
    const std::string& base = comps.back();
    if (options_.whiteouts && std::string_view(base).starts_with(kWhiteoutPrefix)) {
      std::vector<std::string> parent(comps.begin(), comps.end() - 1);
      if (base == kOpaqueMarker) return Opaque(parent);
      if (std::string_view(base).starts_with(kAufsMetaPrefix)) return {};
      std::string name = base.substr(kWhiteoutPrefix.size());
      if (name.empty() || name == "." || name == "..") {
        return Err("whiteout " + Quoted(key) + " names nothing");
      }
      return Whiteout(parent, name);
    }
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && type != AE_IFCHR &&
        type != AE_IFBLK && type != AE_IFIFO && !hardlink) {
      Log(LogLevel::kDebug, "skipping " + Quoted(key) + ": not a file type an image can hold");
      return {};
    }
    UVM_TRY(UniqueFd parent, OpenParent(comps, "entry"));
    if (parent.valid() && type != AE_IFDIR) {
      // A non-directory replaces a directory of a lower layer with everything in it.
      struct stat st;
      if (::fstatat(parent.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISDIR(st.st_mode)) {
        UVM_CHECK(RemoveTreeAt(parent.get(), base));
      }
    }
    if (hardlink) {
      UVM_TRY(std::vector<std::string> target, SplitEntryPath(hardlink));
      if (target.empty()) return Err("hard link " + Quoted(key) + " points at the image root");
      UVM_TRY(UniqueFd tparent, OpenParent(target, "hard link target"));
      if (!tparent.valid()) {
        return Err("hard link " + Quoted(key) + ": target " + Quoted(Join(target)) +
                   " does not exist");
      }
      archive_entry_set_hardlink(entry, (root_ + "/" + Join(target)).c_str());
    }
    archive_entry_set_pathname(entry, (root_ + "/" + key).c_str());
    MarkWritten(comps);
  }

  int r = archive_write_header(disk_, entry);
  if (r < ARCHIVE_WARN) return Err(Quoted(key) + ": " + ArchiveError(disk_));
  if (r == ARCHIVE_WARN) Log(LogLevel::kDebug, Quoted(key) + ": " + ArchiveError(disk_));
  if (archive_entry_size(entry) > 0 && type == AE_IFREG) {
    const void* buf;
    size_t size;
    la_int64_t offset;
    for (;;) {
      r = archive_read_data_block(source, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        return Err(Quoted(key) + ": truncated or corrupt tar (" + ArchiveError(source) + ")");
      }
      if (data_hash) data_hash->Update(std::span(static_cast<const uint8_t*>(buf), size));
      if (archive_write_data_block(disk_, buf, size, offset) < ARCHIVE_WARN) {
        return Err(Quoted(key) + ": " + ArchiveError(disk_));
      }
    }
  }
  r = archive_write_finish_entry(disk_);
  if (r < ARCHIVE_WARN) return Err(Quoted(key) + ": " + ArchiveError(disk_));
  return {};
}

namespace {

struct ReadContext {
  LayerStream* stream;
  std::string error;
};

la_ssize_t ReadLayer(archive* a, void* opaque, const void** buf) {
  auto* ctx = static_cast<ReadContext*>(opaque);
  auto chunk = ctx->stream->Next();
  if (!chunk) {
    ctx->error = chunk.error().message;
    archive_set_error(a, EIO, "%s", ctx->error.c_str());
    return -1;
  }
  *buf = chunk->data();
  return static_cast<la_ssize_t>(chunk->size());
}

}  // namespace

Result<void> ApplyLayer(LayerStream& in, const std::string& root, const ApplyOptions& options) {
  UVM_TRY(TreeWriter writer, TreeWriter::Create(root, options));
  std::unique_ptr<archive, int (*)(archive*)> reader(archive_read_new(), archive_read_free);
  if (!reader) return Err("libarchive: out of memory");
  archive_read_support_format_tar(reader.get());
  ReadContext ctx{&in, ""};
  // A failure of the stream itself (truncated or corrupt gzip, read error) is the better
  // message than what libarchive makes of the missing bytes.
  auto fail = [&](const std::string& what) {
    return Err(in.name() + ": " + (ctx.error.empty() ? what : ctx.error));
  };
  if (archive_read_open(reader.get(), &ctx, nullptr, ReadLayer, nullptr) != ARCHIVE_OK) {
    return fail("not a tar archive (" + ArchiveError(reader.get()) + ")");
  }
  archive_entry* entry;
  for (;;) {
    int r = archive_read_next_header(reader.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return fail("truncated or corrupt tar (" + ArchiveError(reader.get()) + ")");
    if (auto w = writer.Write(entry, reader.get()); !w) return fail(w.error().message);
  }
  UVM_CHECK(writer.Finish());
  return Context(in.Drain(), in.name());
}

}  // namespace uvm::store
