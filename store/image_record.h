// One stored image: the small JSON file the store keeps per name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "store/image_config.h"

namespace uvm::store {

struct ImageRecord {
  std::string name;
  std::string digest;     // identity of the root filesystem (see image_store.h)
  std::string disk;       // file name of the ext4 image in the store's disks/ directory
  std::string disk_path;  // full path, filled in by the store (not serialised)
  uint64_t disk_bytes = 0;
  std::string source;   // what it was imported from, for `uvm image ls`
  int64_t created = 0;  // unix seconds
  ImageConfig config;
};

std::string SerializeImageRecord(const ImageRecord& record);
Result<ImageRecord> ParseImageRecord(std::string_view json);

// Image names: 1-128 characters of [A-Za-z0-9._:@/-], starting with a letter or digit, no "..",
// so every name maps to one safe file name.
Result<void> CheckImageName(const std::string& name);
// The record's file name for `name` ('/' becomes '+', which names cannot hold).
std::string RecordFileName(const std::string& name);

}  // namespace uvm::store
