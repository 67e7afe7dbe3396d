// A host directory mounted in a container (`uvm run -v HOSTDIR:TARGET[:ro]`), as the front ends
// parse it and the runtime takes it. Header-only: the command-line parsers use it without linking
// the runtime.
#pragma once

#include <string>

namespace uvm::runtime {

struct VolumeSpec {
  std::string host_dir;  // absolute
  std::string target;    // absolute, inside the container
  bool read_only = false;
};

}  // namespace uvm::runtime
