// From an image source to an ext4 disk in a work directory: resolve the source to a plan,
// unpack archives, apply and verify the layers, build the disk. Nothing outside `work` is
// written; the store commits the result.
#pragma once

#include <string>

#include "base/result.h"
#include "store/image_config.h"
#include "store/source.h"

namespace uvm::store {

struct BuiltImage {
  ImageConfig config;
  std::string digest;  // RootfsDigest of the layers
  // The built disk in `work`; empty when `disks_dir` already holds the disk for `digest`.
  std::string disk_path;
};

Result<BuiltImage> BuildImage(const Source& source, const std::string& work,
                              const std::string& disks_dir);

// The disk file name for a rootfs digest.
std::string DiskFileName(const std::string& digest);

}  // namespace uvm::store
