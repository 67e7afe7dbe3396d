#include "devices/virtio/fs/node_table.h"

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

}  // namespace

NodeTable::NodeTable(UniqueFd root, const struct stat& root_stat, size_t max_nodes)
    : max_nodes_(max_nodes) {
  by_inode_[{root_stat.st_dev, root_stat.st_ino}] = kRootId;
  nodes_.emplace(kRootId, NewNode(std::move(root), root_stat));
}

Node* NodeTable::Find(uint64_t id) {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

uint64_t NodeTable::IdOf(dev_t dev, ino_t ino) const {
  auto it = by_inode_.find({dev, ino});
  return it == by_inode_.end() ? 0 : it->second;
}

uint64_t NodeTable::Add(UniqueFd fd, const struct stat& st, int* err) {
  if (uint64_t id = IdOf(st.st_dev, st.st_ino)) {
    Node& node = nodes_.at(id);
    ++node.lookups;
    return id;
  }
  if (nodes_.size() >= max_nodes_) {
    *err = ENFILE;
    return 0;
  }
  const uint64_t id = next_id_++;
  by_inode_[{st.st_dev, st.st_ino}] = id;
  nodes_.emplace(id, NewNode(std::move(fd), st));
  return id;
}

void NodeTable::Forget(uint64_t id, uint64_t n) {
  if (id == kRootId) return;
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  Node& node = it->second;
  node.lookups -= std::min(n, node.lookups);
  if (node.lookups > 0) return;
  by_inode_.erase({node.dev, node.ino});
  nodes_.erase(it);
}

void NodeTable::Clear() {
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->first == kRootId) {
      ++it;
      continue;
    }
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
