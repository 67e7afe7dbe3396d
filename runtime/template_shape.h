// What a template is made of (runtime/template_store.h), and its one JSON form: the shape is
// written to each template's `template.json` and sent in the VM pool's claims
// (runtime/pool/protocol.h).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "base/result.h"

namespace uvm::runtime {

struct TemplateShape {
  std::string kernel;  // vmlinux
  std::string initrd;  // the agent initramfs
  uint64_t memory_mib = 256;
  int cpus = 1;
  // A virtio-net device after vsock (uvm run --net tap). The template boots it on a temporary tap
  // of its own; each clone opens its own tap in its place and the agent gives eth0 the clone's
  // MAC (the guest driver read the template's at probe).
  bool net = false;
  // The container image's disk (store/image_store.h), or "" for a template of no image. With an
  // image, the template boots with that disk as vda and its agent mounts the image and reads it
  // into the page cache before the save (guest-agent/image_cache.h): its clones skip the mount and
  // share those pages instead of each reading the image from disk. Clones must attach this same
  // file. Without, vda is an empty placeholder and each clone's disk arrives as a resize.
  std::string image_disk;
  std::string image_name;  // what the user called the image (shown by `uvm template ls`)
  // virtio-fs devices after the nets (uvm run -v and --rootfs), tags ShareTag(0..shares-1). The
  // template's are bound to no directory and never mounted; each clone binds its own
  // directories to them when it is restored.
  int shares = 0;
};

// At most this many shares in a container's VM (9 virtio devices: the disk, vsock, a net).
inline constexpr int kMaxShares = 6;

// The virtio-fs tag of a container VM's share `index`: "uvmfs0", "uvmfs1", ...
std::string ShareTag(int index);

// The shape as a JSON object: kernel, initrd, memory_mib, cpus, net, image_disk, image, shares.
nlohmann::json ShapeToJson(const TemplateShape& shape);
// Reads it back, field by field: kernel and initrd absolute paths, memory_mib from the smallest
// guest to 1 TiB, cpus 1 to boot::kMaxCpus, net a boolean, image_disk absolute or absent.
Result<TemplateShape> ShapeFromJson(const nlohmann::json& j);

// The built-in kernel and agent initramfs (runtime/paths.h) at this size, with a net device or
// not, for no image: what `uvm run`, `uvm template create` and `uvm pool start` start from.
TemplateShape BuiltinTemplateShape(uint64_t memory_mib, int cpus, bool net = false);

// Whether `name` has the form of a template key (TemplateKey): 16 lowercase hex digits.
bool IsTemplateKey(const std::string& name);

}  // namespace uvm::runtime
