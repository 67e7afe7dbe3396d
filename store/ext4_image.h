// Turns an unpacked root filesystem into the read-only disk a UVM mounts: an ext4 image made by
// e2fsprogs' `mke2fs -d` (no journal: the guest never writes it), sized from the content.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace uvm::store {

struct TreeSize {
  uint64_t blocks = 0;  // 4 KiB data blocks the files and directories need
  uint64_t inodes = 0;
};

// What `dir` needs on an ext4 file system with 4 KiB blocks (hard links counted once).
Result<TreeSize> MeasureTree(const std::string& dir);

// The image size and inode count mke2fs is asked for, with headroom for metadata.
uint64_t ImageBytesFor(const TreeSize& size);

// Builds the ext4 image `out` (which must not exist) holding `dir`.
Result<void> BuildExt4(const std::string& dir, const std::string& out);

// Runs argv[0] (a full path) with `argv`, waits, and returns its output on failure as the error.
Result<void> RunTool(const std::vector<std::string>& argv);

}  // namespace uvm::store
