// Applying image layers to a root directory (image-spec layer.md): entries written in order,
// OCI whiteouts (`.wh.NAME` deletes NAME from lower layers) and opaque directories
// (`.wh..wh..opq` hides everything lower layers put in its directory), hard links, symlinks,
// device nodes, ownership and modes kept. The layer is untrusted: no entry may write outside the
// root, by `..`, by an absolute path, or through a symlink an earlier entry planted.
#pragma once

#include <unistd.h>

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "store/layer_stream.h"

struct archive;
struct archive_entry;

namespace uvm::store {

struct ApplyOptions {
  bool whiteouts = true;  // false for a plain rootfs tar, taken literally
  // Owners from the layer need root; otherwise files belong to the caller.
  bool preserve_owner = ::geteuid() == 0;
};

// The components of a path inside a layer: leading "/" and "./" dropped, "." and empty
// components skipped, ".." refused. An empty result is the root itself.
Result<std::vector<std::string>> SplitEntryPath(std::string_view path);

// Applies the tar stream `in` on top of the tree at `root` (an existing directory).
Result<void> ApplyLayer(LayerStream& in, const std::string& root, const ApplyOptions& options);

// Writes archive entries below one root directory; one per layer (whiteouts only hide what
// earlier layers wrote, so "written in this layer" is per writer).
class TreeWriter {
 public:
  static Result<TreeWriter> Create(const std::string& root, const ApplyOptions& options);
  TreeWriter(TreeWriter&& o) noexcept;
  TreeWriter& operator=(TreeWriter&&) = delete;
  ~TreeWriter();

  // Writes `entry`, whose data (if any) is read from `source` (and added to `data_hash`).
  Result<void> Write(archive_entry* entry, archive* source, Sha256* data_hash = nullptr);
  // Applies what libarchive defers to the end (directory modes and times).
  Result<void> Finish();

 private:
  TreeWriter(std::string root, UniqueFd root_fd, archive* disk, ApplyOptions options)
      : root_(std::move(root)), root_fd_(std::move(root_fd)), disk_(disk), options_(options) {}
  Result<void> Whiteout(const std::vector<std::string>& parent, const std::string& name);
  Result<void> Opaque(const std::vector<std::string>& dir);
  Result<void> ClearLower(int dirfd, const std::string& prefix);
  // The parent directory of `comps`, opened without following symlinks; an invalid fd when it
  // does not exist yet.
  Result<UniqueFd> OpenParent(const std::vector<std::string>& comps, std::string_view what);
  void MarkWritten(const std::vector<std::string>& comps);

  std::string root_;
  UniqueFd root_fd_;
  archive* disk_;
  ApplyOptions options_;
  std::unordered_set<std::string> written_;
};

}  // namespace uvm::store
