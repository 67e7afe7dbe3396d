// One virtio-fs share served in-process: a FUSE server that passes each operation through to a
// host directory, confined beneath it.
//
// Confinement. The share's root is held as an O_PATH descriptor and every node as another
// (node_table.h); a name from the guest is only ever one path component (no '/', not empty, at
// most NAME_MAX), opened relative to its parent's descriptor with O_NOFOLLOW, so the host never
// follows a symlink the guest made: symlinks are returned to the guest, whose kernel resolves
// them inside its own view of the share. "." is the node itself and ".." of the root is the root;
// ".." elsewhere is accepted only when it names a node the session already knows. Operations
// that need an open file reopen the node through /proc/self/fd (uvm's own descriptor, not a
// guest path). A read-only share answers every change with EROFS.
//
// Owners pass through: the guest's kernel checks permissions (virtio-fs mounts with
// default_permissions), and what the guest creates is owned by the calling uid/gid of the request
// (the group of a set-group-ID directory wins, as on the host), so root-owned container files stay
// root's.
//
// Caching. Entries and attributes are valid in the guest for `ShareConfig::cache_seconds`; the
// guest's page cache is dropped on open when the file changed (no FOPEN_KEEP_CACHE) and writes are
// write-through (no writeback cache), so the host sees a write when the guest's write() returns.
#pragma once

#include <linux/fuse.h>
#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "devices/virtio/fs/fuse_reply.h"
#include "devices/virtio/fs/fuse_request.h"
#include "devices/virtio/fs/node_table.h"
#include "devices/virtio/fs/share_spec.h"

namespace uvm::devices::virtio::fs {

// The largest WRITE and READ uvm accepts (announced in FUSE_INIT as max_write/max_pages).
inline constexpr uint32_t kMaxIoBytes = 1024 * 1024;

class FuseSession {
 public:
  static Result<std::unique_ptr<FuseSession>> Open(const ShareConfig& config);

  // A request from the request queue: answers it (every opcode has an answer, ENOSYS for those
  // uvm does not serve), except FORGET/BATCH_FORGET, which have none.
  void Handle(const FuseRequest& request, FuseReply& reply);
  // A request from the hiprio queue (FORGET, BATCH_FORGET; anything else is dropped).
  void HandleHiprio(const FuseRequest& request);
  // Back to before FUSE_INIT: every node but the root and every open file dropped.
  void Reset();

  uint32_t max_write() const { return kMaxIoBytes; }
  bool initialized() const { return initialized_; }
  const NodeTable& nodes() const { return nodes_; }
  const HandleTable& handles() const { return handles_; }
  const ShareConfig& config() const { return config_; }

 private:
  FuseSession(const ShareConfig& config, UniqueFd root, const struct stat& st, UniqueFd mount_fd);

  // fuse_session.cc: INIT, DESTROY, the dispatch, shared helpers.
  void Init(const FuseRequest& request, FuseReply& reply);
  void Forget(const FuseRequest& request);
  // Opens `name` beneath node `parent` (O_PATH | O_NOFOLLOW) and counts a lookup of it; fills
  // `out`. Returns 0 or a positive errno.
  int LookupEntry(uint64_t parent, std::string_view name, fuse_entry_out& out);
  // Answers with an entry; a reply that did not reach the guest takes its lookup back.
  void ReplyEntry(FuseReply& reply, const fuse_entry_out& out);
  // After `name` was made in the request's node (open as `dir_fd`): the caller owns it, and the
  // guest gets its entry.
  void ReplyMade(const FuseRequest& r, FuseReply& reply, int dir_fd, std::string_view name);
  void FillAttr(const struct stat& st, fuse_attr& attr) const;
  int StatNode(const Node& node, struct stat& st) const;
  // The caller becomes the owner of `name` in `dir_fd` (see the header comment).
  void SetOwner(int dir_fd, std::string_view name, const fuse_in_header& h) const;

  // passthrough_node.cc: the namespace and attributes.
  void Lookup(const FuseRequest& r, FuseReply& reply);
  void GetAttr(const FuseRequest& r, FuseReply& reply);
  void SetAttr(const FuseRequest& r, FuseReply& reply);
  void ReadLink(const FuseRequest& r, FuseReply& reply);
  void Symlink(const FuseRequest& r, FuseReply& reply);
  void MakeNode(const FuseRequest& r, FuseReply& reply);
  void MakeDir(const FuseRequest& r, FuseReply& reply);
  void Remove(const FuseRequest& r, FuseReply& reply, bool dir);
  void Rename(const FuseRequest& r, FuseReply& reply, bool with_flags);
  void Link(const FuseRequest& r, FuseReply& reply);
  void StatFs(const FuseRequest& r, FuseReply& reply);
  void Access(const FuseRequest& r, FuseReply& reply);

  // passthrough_file.cc: open files and extended attributes.
  void OpenNode(const FuseRequest& r, FuseReply& reply, bool dir);
  void Create(const FuseRequest& r, FuseReply& reply);
  void Read(const FuseRequest& r, FuseReply& reply);
  void Write(const FuseRequest& r, FuseReply& reply);
  void Release(const FuseRequest& r, FuseReply& reply);
  void Fsync(const FuseRequest& r, FuseReply& reply);
  void Flush(const FuseRequest& r, FuseReply& reply);
  void Fallocate(const FuseRequest& r, FuseReply& reply);
  void Lseek(const FuseRequest& r, FuseReply& reply);
  void CopyFileRange(const FuseRequest& r, FuseReply& reply);
  void SetXattr(const FuseRequest& r, FuseReply& reply);
  void GetXattr(const FuseRequest& r, FuseReply& reply, bool list);
  void RemoveXattr(const FuseRequest& r, FuseReply& reply);

  // passthrough_dir.cc: directory listings.
  void ReadDir(const FuseRequest& r, FuseReply& reply, bool plus);

  ShareConfig config_;
  NodeTable nodes_;
  HandleTable handles_;
  bool initialized_ = false;
  uint32_t minor_ = 0;  // the negotiated protocol minor version
  bool running_as_root_ = false;
};

// "/proc/self/fd/N": reopening or naming a node through uvm's own descriptor.
struct ProcFdPath {
  explicit ProcFdPath(int fd);
  const char* c_str() const { return buf; }
  char buf[32];
};

// Whether `opcode` changes the share (refused with EROFS on a read-only share).
bool ChangesShare(uint32_t opcode);

}  // namespace uvm::devices::virtio::fs
