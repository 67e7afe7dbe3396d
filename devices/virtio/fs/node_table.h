// The host side of a FUSE session's node ids and file handles.
//
// A node id stands for one host inode beneath the share, held open as an O_PATH | O_NOFOLLOW
// descriptor: every later operation on the node starts from that descriptor, never from a path,
// so a name renamed or swapped for a symlink after LOOKUP cannot redirect it. One id per
// (st_dev, st_ino), counted in lookups as FUSE counts them (each entry reply adds one, FORGET
// takes n away); at zero the descriptor is closed and the id is never used again (ids only grow,
// so a guest using a forgotten id gets ENOENT, not somebody else's file).
//
// A Linux guest forgets a node only when it evicts the inode from its own cache, so it may hold
// far more nodes than the host has descriptors to spare (untar a tree into a share). Where the
// host filesystem has file handles (name_to_handle_at) and the VMM may open them
// (CAP_DAC_READ_SEARCH), a node keeps its handle and its descriptor is only a cache: at most
// `max_open` nodes hold one, the least recently used gives its up, and it is reopened from the
// handle (open_by_handle_at: the same inode, never a path) when the guest uses the node again.
// Entries are capped at `max_nodes` and open files at the handle table's cap: a guest that never
// sends FORGET or RELEASE gets ENFILE, not the host's descriptors or memory.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <list>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/unique_fd.h"

namespace uvm::devices::virtio::fs {

struct Node {
  UniqueFd fd;  // O_PATH | O_NOFOLLOW; Find() reopens it if it was given up
  dev_t dev = 0;
  ino_t ino = 0;
  mode_t type = 0;  // st_mode & S_IFMT
  uint64_t lookups = 0;
  // struct file_handle's type and bytes, empty when the node cannot be reopened (its descriptor
  // is then never given up).
  int handle_type = 0;
  std::vector<unsigned char> handle;
  std::list<uint64_t>::iterator lru;  // in the table's list while it holds a reopenable fd
};

class NodeTable {
 public:
  static constexpr uint64_t kRootId = 1;  // FUSE_ROOT_ID;
  // Below this many descriptors a request's own nodes (two at most) could evict each other.
  static constexpr size_t kMinOpen = 8;

  // `root` is the share's O_PATH descriptor; file handles are tried when `mount_fd` (a
  // descriptor of the share's root opened for reading, which open_by_handle_at requires) is valid.
  NodeTable(UniqueFd root, const struct stat& root_stat, UniqueFd mount_fd, size_t max_nodes,
            size_t max_open);

  // The node with its descriptor (reopened from its handle if it had been given up), or null: no
  // such id, or the inode is gone (*err, when given, says which: ENOENT, ESTALE, ENFILE).
  Node* Find(uint64_t id, int* err = nullptr);
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
  // Nodes holding a descriptor now, the root included.
  size_t open_count() const { return open_count_; }
  bool reopens() const { return mount_fd_.valid(); }

 private:
  // Gives up the least recently used reopenable descriptor if `open_count_` is at the limit;
  // false if none can be given up.
  bool MakeRoom();
  void Touch(Node& node);
  void Drop(Node& node);  // closes its descriptor and leaves the list
  // A reopenable node that had given its descriptor up takes `fd` and rejoins the list.
  void Hold(uint64_t id, Node& node, UniqueFd fd);
  void Remember(uint64_t id, Node& node);  // records its handle, joins the list

  size_t max_nodes_;
  size_t max_open_;
  UniqueFd mount_fd_;
  int mount_id_ = -1;
  size_t open_count_ = 0;
  uint64_t next_id_ = kRootId + 1;
  std::unordered_map<uint64_t, Node> nodes_;
  std::map<std::pair<dev_t, ino_t>, uint64_t> by_inode_;
  std::list<uint64_t> lru_;  // ids of nodes holding a reopenable descriptor, oldest use first
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
