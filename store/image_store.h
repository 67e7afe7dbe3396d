// The image store (ARCHITECTURE.md "Image store"; README, `uvm image`): named images, each a
// read-only ext4 disk built once from an image source and shared by every name whose root
// filesystem has the same digest.
//
// Layout under ROOT/images/: records/NAME.json (ImageRecord), disks/HEX.ext4, tmp/ (imports in
// progress), lock. An import does all its work in tmp/ and commits with two renames (disk, then
// record) under the lock, so a failed or interrupted import leaves the store as it was.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "store/image_config.h"
#include "store/image_record.h"

namespace uvm::store {

inline constexpr char kBusyboxName[] = "busybox";
inline constexpr char kBusyboxRootfsFile[] = "busybox-rootfs.tar";

// The built-in busybox image's config: `sh` with the standard PATH.
ImageConfig BusyboxConfig();

// The digest naming a root filesystem made from these uncompressed layers, in order.
std::string RootfsDigest(const std::vector<std::string>& diff_ids);

class ImageStore {
 public:
  // `root`: uvm's state root (--root). `builtin_dir`: where the built-in images are (the
  // images/ directory next to the uvm binary); empty: no built-in images.
  static Result<ImageStore> Open(const std::string& root, const std::string& builtin_dir = "");

  // Imports SOURCE (see store/source.h) as `name`, replacing an image of that name.
  Result<ImageRecord> Import(const std::string& source, const std::string& name);
  // All images, sorted by name.
  Result<std::vector<ImageRecord>> List() const;
  // Removes `name`, and its disk unless another name uses it.
  Result<void> Remove(const std::string& name);
  // The image `name`; the built-in busybox is imported on first use.
  Result<ImageRecord> Resolve(const std::string& name);

  const std::string& dir() const { return dir_; }

 private:
  ImageStore(std::string dir, std::string builtin_dir)
      : dir_(std::move(dir)), builtin_dir_(std::move(builtin_dir)) {}
  Result<ImageRecord> ImportAs(const std::string& source, const std::string& name,
                               const std::optional<ImageConfig>& config_override,
                               const std::string& source_label);
  Result<ImageRecord> Commit(ImageRecord record, const std::string& built_disk);
  Result<std::optional<ImageRecord>> Find(const std::string& name) const;
  std::string DiskPath(const std::string& disk) const { return dir_ + "/disks/" + disk; }

  std::string dir_;
  std::string builtin_dir_;
};

}  // namespace uvm::store
