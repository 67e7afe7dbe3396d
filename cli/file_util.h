#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace uvm::cli {

// The whole of a regular file (a directory or device is an error, not an endless read).
Result<std::vector<uint8_t>> ReadWholeFile(const std::string& path);

// Directory holding the running uvm binary (build/ in a source tree).
std::string SelfDir();

}  // namespace uvm::cli
