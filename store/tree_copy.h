// A root filesystem given as a directory: copied entry by entry (through the same TreeWriter as
// layers, so the same checks apply) while a digest of what was copied is computed.
#pragma once

#include <string>

#include "base/result.h"
#include "store/layer_apply.h"

namespace uvm::store {

// Copies the tree at `src` into `root`; returns "sha256:<hex>" over the entries' names,
// metadata and content in walk order.
Result<std::string> CopyTree(const std::string& src, const std::string& root,
                             const ApplyOptions& options);

}  // namespace uvm::store
