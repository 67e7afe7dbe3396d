// `uvm pool start|stop|status`: the long-lived process that keeps clones of templates restored
// ahead of time for `uvm run` (runtime/pool/server.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace uvm::cli {

struct PoolOptions {
  std::string root;                 // uvm's state root (--root): the pool clones its templates
  std::vector<std::string> images;  // start: fill these images' shapes from the start
  int size = 2;                     // start: VMs kept ready per shape
  uint64_t memory_mib = 256;        // start: the shape of the images' VMs, as `uvm run` has it
  int cpus = 1;
  bool foreground = false;  // start: serve in this process (logs to stderr) instead of detaching
  bool json = false;        // status
};

Result<int> RunPoolStart(const PoolOptions& options);
Result<int> RunPoolStop(const PoolOptions& options);
Result<int> RunPoolStatus(const PoolOptions& options);

}  // namespace uvm::cli
