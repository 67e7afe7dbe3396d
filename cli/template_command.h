// `uvm template create|ls|rm` (DESIGN.md §6): the pre-booted utility VMs `uvm run` clones.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace uvm::cli {

struct TemplateOptions {
  std::string root;  // uvm's state root (--root)
  uint64_t memory_mib = 256;
  int cpus = 1;
  bool net = false;   // create: the variant with a virtio-net device (uvm run --net tap)
  std::string image;  // create: prepared for this image (uvm run IMAGE); "": none
  std::string key;    // rm
};

Result<int> RunTemplateCreate(const TemplateOptions& options);
Result<int> RunTemplateList(const TemplateOptions& options);
Result<int> RunTemplateRemove(const TemplateOptions& options);

}  // namespace uvm::cli
