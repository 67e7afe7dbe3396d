// `uvm image import SOURCE NAME | ls | rm NAME` (DESIGN.md §4): the image store from the shell.
#pragma once

#include <string>

#include "base/result.h"

namespace uvm::cli {

struct ImageOptions {
  std::string root;  // uvm's state root (--root)
  std::string source;
  std::string name;
};

Result<int> RunImageImport(const ImageOptions& options);
Result<int> RunImageList(const ImageOptions& options);
Result<int> RunImageRemove(const ImageOptions& options);

}  // namespace uvm::cli
