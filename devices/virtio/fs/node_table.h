// The host side of a FUSE session's node ids and file handles.
//
// A node id stands for one host inode beneath the share, held open as an O_PATH | O_NOFOLLOW
// descriptor: every later operation on the node starts from that descriptor, never from a path,
// so a name renamed or swapped for a symlink after LOOKUP cannot redirect it. One id per
// (st_dev, st_ino), counted in lookups as FUSE counts them (each entry reply adds one, FORGET
// takes n away); at zero the descriptor is closed and the id is never used again (ids only grow,
// so a guest using a forgotten id gets ENOENT, not somebody else's file). Both tables are capped:
// a guest that never sends FORGET or RELEASE gets ENFILE, not the host's descriptors.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>

#include "base/unique_fd.h"

namespace uvm::devices::virtio::fs {

struct Node {
  UniqueFd fd;  // O_PATH | O_NOFOLLOW
  dev_t dev = 0;
  ino_t ino = 0;
  mode_t type = 0;  // st_mode & S_IFMT
  uint64_t lookups = 0;
};

class NodeTable {
 public:
  static constexpr uint64_t kRootId = 1;  // FUSE_ROOT_ID;

  NodeTable(UniqueFd root, const struct stat& root_stat, size_t max_nodes);

  Node* Find(uint64_t id);
  // One more lookup of the inode `fd` (described by `st`) refers to, added if new (else `fd` is
  // closed and the existing descriptor kept). Returns the id, or 0 with *err = ENFILE when full.
  uint64_t Add(UniqueFd fd, const struct stat& st, int* err);
  // The id of the inode (dev, ino) if the table holds it, else 0.
  uint64_t IdOf(dev_t dev, ino_t ino) const;
  // Undoes `n` lookups (FORGET; clamped to what the node has). The root is never dropped.
  void Forget(uint64_t id, uint64_t n);
  // Everything but the root (FUSE_DESTROY, a device reset).
  void Clear();
  size_t size() const { return nodes_.size(); }
  size_t max_nodes() const { return max_nodes_; }

 private:
  size_t max_nodes_;
  uint64_t next_id_ = kRootId + 1;
  std::unordered_map<uint64_t, Node> nodes_;
  std::map<std::pair<dev_t, ino_t>, uint64_t> by_inode_;
};

struct OpenFile {
  UniqueFd fd;
  uint64_t node = 0;
  bool dir = false;
  // OPENDIR's handle: where the next READDIR continues when the guest's offset matches it
  // (getdents64 positions are opaque cookies; a different offset seeks).
  int64_t dir_offset = 0;
};

class HandleTable {
 public:
  explicit HandleTable(size_t max_handles) : max_handles_(max_handles) {}
  // The new handle, or 0 with *err = ENFILE when full.
  uint64_t Add(OpenFile file, int* err);
  OpenFile* Find(uint64_t fh);
  void Remove(uint64_t fh);
  void Clear() { files_.clear(); }
  size_t size() const { return files_.size(); }

 private:
  size_t max_handles_;
  uint64_t next_fh_ = 1;
  std::unordered_map<uint64_t, OpenFile> files_;
};

}  // namespace uvm::devices::virtio::fs
