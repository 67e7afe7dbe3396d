// Images prepared in a template VM (protocol: PrepareImage). The image is mounted read-only once
// and its files are read into the page cache before the template is saved, so that in every clone
// an Exec on that image skips the mount and its process's first reads are page-cache hits in
// memory all clones share (the template's `memory`, mapped copy-on-write): no disk requests, and
// no private copies of those pages.
//
// The host guarantees that a clone's disk holds the same bytes as its template's (the template is
// keyed by the image file, runtime/template_store.h); a clone never sees a prepared mount of
// another image.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "base/result.h"
#include "guest-agent/protocol/messages.h"

namespace uvm::agent {

// Reads the regular files under `dir`, each whole, until the next one would take the total past
// `budget` bytes (a file that does not fit is skipped, smaller ones after it are still read).
// Breadth-first with names sorted, so /bin, /etc and /lib come before what lies deep down; does
// not follow symlinks or leave the filesystem of `dir`.
Result<ImagePrepared> WarmTree(const std::string& dir, uint64_t budget);

class ImageCache {
 public:
  // Prepared images are mounted at `dir`/image-N.
  explicit ImageCache(std::string dir) : dir_(std::move(dir)) {}

  // Mounts `rootfs` read-only (once: a second call for the same device and type only warms) and
  // warms up to `warm_bytes` of it.
  Result<ImagePrepared> Prepare(const Rootfs& rootfs, uint64_t warm_bytes);
  // Where the image on this device and filesystem type is mounted, if it was prepared.
  std::optional<std::string> Find(const Rootfs& rootfs) const;

 private:
  std::string dir_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> mounts_;  // device + "\n" + fstype -> mount point
};

}  // namespace uvm::agent
