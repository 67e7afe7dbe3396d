#pragma once

#include <string>

namespace uvm::cli {

// Directory holding the running uvm binary (build/ in a source tree).
std::string SelfDir();

}  // namespace uvm::cli
