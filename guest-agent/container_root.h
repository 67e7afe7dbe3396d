// The root filesystem of one container (ARCHITECTURE.md "The agent"): the image's block device
// mounted read-only, a size-limited tmpfs holding the overlay's upper and work directories, the
// overlay on top, and a minimal /dev and read-only /sys inside it. Mounted in the agent's own mount
// namespace; the container's process gets a copy (CLONE_NEWNS), pivot_roots into it and mounts its
// own /proc.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "guest-agent/protocol/messages.h"

namespace uvm::agent {

// Waits until `device` exists and has a non-zero size, polling every few ms up to `timeout`. A
// clone's disk is attached after restore by a capacity change (its template's is a 0-byte
// placeholder), and the config interrupt announcing it may still be in flight when the Exec
// arrives; a cold boot sees the size at once. Block devices are sized with BLKGETSIZE64, other
// files (tests) by their length.
Result<void> WaitForDisk(const std::string& device, std::chrono::milliseconds timeout);
inline constexpr std::chrono::seconds kDiskTimeout{10};

inline constexpr char kVirtiofs[] = "virtiofs";

// A virtio-fs tag the kernel takes: 1-36 bytes, no ',', '/' or space.
bool IsShareTag(const std::string& tag);

// A rootfs the agent can mount: an absolute device path (or, for virtiofs, a share tag) and a
// plain filesystem type (no option smuggled in after a comma); volumes with share tags and
// absolute targets without "..".
Result<void> ValidateRootfs(const Rootfs& rootfs);

// The directory `target` inside `root`, made where missing (mode 0755), as an O_PATH descriptor to
// mount on. Each component is opened without following symlinks: a container's symlink cannot
// point a mount elsewhere in the VM.
Result<UniqueFd> OpenMountPoint(const std::string& root, const std::string& target);

class ContainerRoot {
 public:
  // Mounts everything under `dir` (created; the root is `dir`/root). With `prepared_image` (the
  // mount point of the same image, image_cache.h), the overlay's lower layer is that mount: the
  // disk is neither waited for nor mounted again, and the mount is left in place afterwards.
  // Without `system_dirs` the root gets no /dev and /sys of its own: an OCI runtime mounts them
  // as its config says.
  static Result<ContainerRoot> Mount(const Rootfs& rootfs, const std::string& dir,
                                     const std::optional<std::string>& prepared_image = {},
                                     bool system_dirs = true);

  ContainerRoot(ContainerRoot&& o) noexcept;
  ContainerRoot& operator=(ContainerRoot&&) = delete;
  ~ContainerRoot();  // detaches every mount (lazily: a process may still hold files) and cleans up

  const std::string& root() const { return root_; }

 private:
  ContainerRoot() = default;
  std::string dir_, root_;
  std::vector<std::string> mounts_;  // in mount order; detached in reverse
};

}  // namespace uvm::agent
