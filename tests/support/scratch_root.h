// A `uvm --root` of a test suite's own: on tmpfs under /run (in the lab /tmp is the 9p share,
// where unix sockets cannot be bound), so the suite's images and templates are its own; removed
// at the end of the suite.
#pragma once

#include <stdlib.h>

#include <string>

namespace uvm::testing {

// Creates /run/uvm-NAME-XXXXXX; empty if it could not.
inline std::string MakeScratchRoot(const std::string& name) {
  std::string tmpl = "/run/uvm-" + name + "-XXXXXX";
  return mkdtemp(tmpl.data()) ? tmpl : std::string();
}

inline void RemoveScratchRoot(const std::string& root) {
  if (root.empty()) return;
  int rc = system(("rm -rf '" + root + "'").c_str());
  (void)rc;
}

}  // namespace uvm::testing
