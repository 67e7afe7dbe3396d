#pragma once

#include <optional>
#include <string>

namespace uvm::cli {

// Directory holding the running uvm binary (build/ in a source tree).
std::string SelfDir();

// The full path of an executable `name` found in $PATH, as a shell would run it.
std::optional<std::string> FindInPath(const std::string& name);

}  // namespace uvm::cli
