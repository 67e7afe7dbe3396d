// Templates (ARCHITECTURE.md "Templates and clones"): a utility VM booted once to the point where
// its agent answers, then saved, so that `uvm run` starts each container as a copy-on-write clone
// of it instead of a boot.
//
// <root>/templates/<key>/ holds the snapshot (`state`, `memory`) and `template.json` (what it was
// made from). The key names everything the saved guest depends on: the kernel and agent
// initramfs files (device, inode, size, modification time: a rebuilt file is a new template, and
// hashing a 30 MB kernel on every run would cost more than the clone), the memory size, the vCPU
// count, and the device layout clones must repeat (vda, then vsock, then with `net` a virtio-net
// device: the order vmm/linux_vm.cc creates them in, so the same virtio-mmio slots), and the
// container image the template was prepared for, if any (the image's disk file, by identity).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "guest-agent/protocol/messages.h"
#include "runtime/template_shape.h"
#include "vmm/utility_vm.h"

namespace uvm::runtime {

struct TemplateInfo {
  std::string key;
  std::string dir;
  TemplateShape shape;
  int64_t created = 0;          // Unix time
  uint64_t memory_on_disk = 0;  // bytes the sparse memory file takes
};

// The devices a template of `shape` has, in slot order: "vda,vsock" or "vda,vsock,net".
std::string DeviceLayout(const TemplateShape& shape);

// The template a shape gives: a short hex key. Fails when the kernel or initramfs is missing.
Result<std::string> TemplateKey(const TemplateShape& shape);

// A container's utility VM of `shape`: the image disk read-only as vda, a clone of `template_dir`
// (a boot when empty). Without an image disk in the shape, the caller sets spec.disks. The vsock
// socket and console are the run directory's (AgentVm::Start); a net device is the caller's.
vmm::UtilityVmSpec ContainerVmSpec(const TemplateShape& shape, const std::string& template_dir);

// Writes `dir`/template.json: the shape a template was made from, which List() reads back.
Result<void> WriteTemplateInfo(const std::string& dir, const TemplateShape& shape);

class TemplateStore {
 public:
  explicit TemplateStore(std::string root) : dir_(std::move(root) + "/templates") {}

  // The directory of a complete template (its `state` file exists), if there is one.
  std::optional<std::string> Find(const std::string& key) const;
  // Boots a utility VM of `shape`, waits for its agent, saves it under its key and returns the
  // directory. A template another uvm finished first is kept and returned instead. Stale
  // templates (RemoveStale) are removed first. `key` is TemplateKey(shape), which the caller has
  // already computed (it stats three files).
  Result<std::string> Create(const TemplateShape& shape, const std::string& key) const;
  // Find, else Create (`key` as for Create).
  Result<std::string> FindOrCreate(const TemplateShape& shape, const std::string& key) const;
  Result<std::vector<TemplateInfo>> List() const;
  // Removes the template whose key is or starts with `key` (unambiguously). Running clones keep
  // their memory: it is mapped, and an unlinked file lives as long as its mappings.
  Result<std::string> Remove(const std::string& key) const;
  // Removes every template no `uvm run` can use any more: a file it was made from (kernel, agent
  // initramfs, image disk) is gone or was replaced, so its shape no longer gives its key. Returns
  // the keys removed. Runs when a template is created and when an image is removed.
  Result<std::vector<std::string>> RemoveStale() const;

 private:
  std::string dir_;
};

}  // namespace uvm::runtime
