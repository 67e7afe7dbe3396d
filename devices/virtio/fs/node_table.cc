#include "devices/virtio/fs/node_table.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>

namespace uvm::devices::virtio::fs {

namespace {

Node NewNode(UniqueFd fd, const struct stat& st) {
  Node node;
  node.fd = std::move(fd);
  node.dev = st.st_dev;
  node.ino = st.st_ino;
  node.type = st.st_mode & S_IFMT;
  node.lookups = 1;
  return node;
}

// struct file_handle with room for the largest handle.
struct HandleBuffer {
  struct file_handle header;
  unsigned char bytes[MAX_HANDLE_SZ];
};

// The handle of the inode `fd` refers to and its mount id, or false.
bool HandleOf(int fd, HandleBuffer* h, int* mount_id) {
  h->header.handle_bytes = MAX_HANDLE_SZ;
  return ::name_to_handle_at(fd, "", &h->header, mount_id, AT_EMPTY_PATH) == 0;
}

}  // namespace

NodeTable::NodeTable(UniqueFd root, const struct stat& root_stat, UniqueFd mount_fd,
                     size_t max_nodes, size_t max_open)
    : max_nodes_(std::max<size_t>(max_nodes, 1)), max_open_(std::max(max_open, kMinOpen)) {
  // Handles are used only if this filesystem has them and this process may open them again.
  HandleBuffer h;
  if (mount_fd.valid() && HandleOf(root.get(), &h, &mount_id_)) {
    UniqueFd again(::open_by_handle_at(mount_fd.get(), &h.header, O_PATH | O_CLOEXEC));
    if (again.valid()) mount_fd_ = std::move(mount_fd);
  }
  by_inode_[{root_stat.st_dev, root_stat.st_ino}] = kRootId;
  nodes_.emplace(kRootId, NewNode(std::move(root), root_stat));
  open_count_ = 1;
}

void NodeTable::Touch(Node& node) {
  if (!node.handle.empty() && node.fd.valid()) lru_.splice(lru_.end(), lru_, node.lru);
}

void NodeTable::Drop(Node& node) {
  if (!node.fd.valid()) return;
  node.fd.Reset();
  --open_count_;
  if (!node.handle.empty()) lru_.erase(node.lru);
}

void NodeTable::Hold(uint64_t id, Node& node, UniqueFd fd) {
  node.fd = std::move(fd);
  ++open_count_;
  node.lru = lru_.insert(lru_.end(), id);
}

bool NodeTable::MakeRoom() {
  if (open_count_ < max_open_) return true;
  // The most recently used node is kept: a request finds its nodes one after another (RENAME's
  // two directories, LOOKUP's parent before the child is added).
  if (lru_.size() < 2) return false;
  Drop(nodes_.at(lru_.front()));
  return true;
}

void NodeTable::Remember(uint64_t id, Node& node) {
  ++open_count_;
  if (!reopens()) return;
  HandleBuffer h;
  int mount_id = -1;
  // Another filesystem mounted inside the share: its handles mean nothing to mount_fd_.
  if (!HandleOf(node.fd.get(), &h, &mount_id) || mount_id != mount_id_) return;
  node.handle_type = h.header.handle_type;
  node.handle.assign(h.header.f_handle, h.header.f_handle + h.header.handle_bytes);
  node.lru = lru_.insert(lru_.end(), id);
}

Node* NodeTable::Find(uint64_t id, int* err) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) {
    if (err) *err = ENOENT;
    return nullptr;
  }
  Node& node = it->second;
  if (node.fd.valid()) {
    Touch(node);
    return &node;
  }
  if (!MakeRoom()) {
    if (err) *err = ENFILE;
    return nullptr;
  }
  HandleBuffer h;
  h.header.handle_bytes = static_cast<unsigned>(node.handle.size());
  h.header.handle_type = node.handle_type;
  std::copy(node.handle.begin(), node.handle.end(), h.header.f_handle);
  UniqueFd fd(::open_by_handle_at(mount_fd_.get(), &h.header, O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || st.st_dev != node.dev ||
      st.st_ino != node.ino) {
    // Deleted on the host since (ESTALE), or the handle no longer names this inode.
    if (err) *err = ESTALE;
    return nullptr;
  }
  Hold(id, node, std::move(fd));
  return &node;
}

uint64_t NodeTable::IdOf(dev_t dev, ino_t ino) const {
  auto it = by_inode_.find({dev, ino});
  return it == by_inode_.end() ? 0 : it->second;
}

uint64_t NodeTable::Add(UniqueFd fd, const struct stat& st, int* err) {
  if (uint64_t id = IdOf(st.st_dev, st.st_ino)) {
    Node& node = nodes_.at(id);
    ++node.lookups;
    if (node.fd.valid()) {
      Touch(node);
    } else if (MakeRoom()) {  // the descriptor in hand saves a reopen
      Hold(id, node, std::move(fd));
    }
    return id;
  }
  if (nodes_.size() >= max_nodes_ || !MakeRoom()) {
    *err = ENFILE;
    return 0;
  }
  const uint64_t id = next_id_++;
  by_inode_[{st.st_dev, st.st_ino}] = id;
  Node& node = nodes_.emplace(id, NewNode(std::move(fd), st)).first->second;
  Remember(id, node);
  return id;
}

void NodeTable::Forget(uint64_t id, uint64_t n) {
  if (id == kRootId) return;
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  Node& node = it->second;
  node.lookups -= std::min(n, node.lookups);
  if (node.lookups > 0) return;
  Drop(node);
  by_inode_.erase({node.dev, node.ino});
  nodes_.erase(it);
}

void NodeTable::Clear() {
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->first == kRootId) {
      ++it;
      continue;
    }
    Drop(it->second);
    by_inode_.erase({it->second.dev, it->second.ino});
    it = nodes_.erase(it);
  }
}

uint64_t HandleTable::Add(OpenFile file, int* err) {
  if (files_.size() >= max_handles_) {
    *err = ENFILE;
    return 0;
  }
  const uint64_t fh = next_fh_++;
  files_.emplace(fh, std::move(file));
  return fh;
}

OpenFile* HandleTable::Find(uint64_t fh) {
  auto it = files_.find(fh);
  return it == files_.end() ? nullptr : &it->second;
}

void HandleTable::Remove(uint64_t fh) { files_.erase(fh); }

}  // namespace uvm::devices::virtio::fs
