#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace uvm::cli {

// Directory holding the running uvm binary (build/ in a source tree).
std::string SelfDir();

// The last `max` bytes of the file at `path` ("..." in front when cut; "" when unreadable): a VM
// console or log for an error message.
std::string FileTail(const std::string& path, size_t max);

// The full path of an executable `name` found in $PATH, as a shell would run it.
std::optional<std::string> FindInPath(const std::string& name);

}  // namespace uvm::cli
