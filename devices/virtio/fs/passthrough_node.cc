// FuseSession's namespace and attribute operations (see fuse_session.h for the rules they keep).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <string>

#include "devices/virtio/fs/fuse_session.h"

namespace uvm::devices::virtio::fs {
namespace {

// A directory entry name from the arguments: 0, or the errno a bad one gets.
int ReadName(ArgReader& args, std::string_view& name) {
  auto s = args.String();
  if (!s) return EINVAL;
  if (s->size() > NAME_MAX) return ENAMETOOLONG;
  if (!IsEntryName(*s)) return EINVAL;
  name = *s;
  return 0;
}

// The name of something to create, remove or rename: "." and ".." never are.
int ReadNewName(ArgReader& args, std::string_view& name) {
  if (int err = ReadName(args, name)) return err;
  return name == "." || name == ".." ? EINVAL : 0;
}

}  // namespace

void FuseSession::Lookup(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  std::string_view name;
  if (int err = ReadName(args, name)) return reply.Error(err);
  fuse_entry_out out;
  if (int err = LookupEntry(r.header.nodeid, name, out)) return reply.Error(err);
  ReplyEntry(reply, out);
}

void FuseSession::GetAttr(const FuseRequest& r, FuseReply& reply) {
  int node_error = 0;
  Node* node = nodes_.Find(r.header.nodeid, &node_error);
  if (!node) return reply.Error(node_error);
  struct stat st;
  if (int err = StatNode(*node, st)) return reply.Error(err);
  fuse_attr_out out{};
  out.attr_valid = config_.cache_seconds;
  FillAttr(st, out.attr);
  reply.OkStruct(out);
}

void FuseSession::SetAttr(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_setattr_in>();
  if (!in) return reply.Error(EINVAL);
  int node_error = 0;
  Node* node = nodes_.Find(r.header.nodeid, &node_error);
  if (!node) return reply.Error(node_error);
  const ProcFdPath path(node->fd.get());
  const uint32_t valid = in->valid;
  if (valid & FATTR_MODE) {
    if (node->type == S_IFLNK) return reply.Error(EOPNOTSUPP);
    if (::chmod(path.c_str(), in->mode & 07777) < 0) return reply.Error(errno);
  }
  if (valid & (FATTR_UID | FATTR_GID)) {
    const uid_t uid = (valid & FATTR_UID) ? in->uid : static_cast<uid_t>(-1);
    const gid_t gid = (valid & FATTR_GID) ? in->gid : static_cast<gid_t>(-1);
    if (::fchownat(node->fd.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
      return reply.Error(errno);
    }
  }
  if (valid & FATTR_SIZE) {
    if (node->type != S_IFREG) return reply.Error(node->type == S_IFDIR ? EISDIR : EINVAL);
    OpenFile* file = (valid & FATTR_FH) ? handles_.Find(in->fh) : nullptr;
    const int rc = file && file->node == r.header.nodeid && !file->dir
                       ? ::ftruncate(file->fd.get(), static_cast<off_t>(in->size))
                       : ::truncate(path.c_str(), static_cast<off_t>(in->size));
    if (rc < 0) return reply.Error(errno);
  }
  if (valid & (FATTR_ATIME | FATTR_MTIME)) {
    timespec times[2];
    times[0] = {static_cast<time_t>(in->atime), static_cast<long>(in->atimensec)};
    times[1] = {static_cast<time_t>(in->mtime), static_cast<long>(in->mtimensec)};
    if (!(valid & FATTR_ATIME)) times[0].tv_nsec = UTIME_OMIT;
    if (valid & FATTR_ATIME_NOW) times[0].tv_nsec = UTIME_NOW;
    if (!(valid & FATTR_MTIME)) times[1].tv_nsec = UTIME_OMIT;
    if (valid & FATTR_MTIME_NOW) times[1].tv_nsec = UTIME_NOW;
    // Through the magic link a symlink node is the link itself, not its target.
    if (::utimensat(AT_FDCWD, path.c_str(), times, 0) < 0) return reply.Error(errno);
  }
  struct stat st;
  if (int err = StatNode(*node, st)) return reply.Error(err);
  fuse_attr_out out{};
  out.attr_valid = config_.cache_seconds;
  FillAttr(st, out.attr);
  reply.OkStruct(out);
}

void FuseSession::ReadLink(const FuseRequest& r, FuseReply& reply) {
  int node_error = 0;
  Node* node = nodes_.Find(r.header.nodeid, &node_error);
  if (!node) return reply.Error(node_error);
  if (node->type != S_IFLNK) return reply.Error(EINVAL);
  char target[PATH_MAX];
  const ssize_t n = ::readlinkat(node->fd.get(), "", target, sizeof(target));
  if (n < 0) return reply.Error(errno);
  reply.Ok(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(target), size_t(n)));
}

void FuseSession::Symlink(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  std::string_view name;
  if (int err = ReadNewName(args, name)) return reply.Error(err);
  auto target = args.String();
  if (!target || target->empty()) return reply.Error(EINVAL);
  if (target->size() >= PATH_MAX) return reply.Error(ENAMETOOLONG);
  int parent_error = 0;
  Node* parent = nodes_.Find(r.header.nodeid, &parent_error);
  if (!parent) return reply.Error(parent_error);
  const std::string name_s(name);
  if (::symlinkat(std::string(*target).c_str(), parent->fd.get(), name_s.c_str()) < 0) {
    return reply.Error(errno);
  }
  ReplyMade(r, reply, parent->fd.get(), name);
}

void FuseSession::MakeNode(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_mknod_in>();
  std::string_view name;
  if (!in) return reply.Error(EINVAL);
  if (int err = ReadNewName(args, name)) return reply.Error(err);
  const mode_t type = in->mode & S_IFMT;
  if (type == S_IFCHR || type == S_IFBLK) {
    if (!config_.allow_devices) return reply.Error(EPERM);
  } else if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK) {
    return reply.Error(EINVAL);
  }
  int parent_error = 0;
  Node* parent = nodes_.Find(r.header.nodeid, &parent_error);
  if (!parent) return reply.Error(parent_error);
  if (::mknodat(parent->fd.get(), std::string(name).c_str(), in->mode, in->rdev) < 0) {
    return reply.Error(errno);
  }
  ReplyMade(r, reply, parent->fd.get(), name);
}

void FuseSession::MakeDir(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_mkdir_in>();
  std::string_view name;
  if (!in) return reply.Error(EINVAL);
  if (int err = ReadNewName(args, name)) return reply.Error(err);
  int parent_error = 0;
  Node* parent = nodes_.Find(r.header.nodeid, &parent_error);
  if (!parent) return reply.Error(parent_error);
  if (::mkdirat(parent->fd.get(), std::string(name).c_str(), in->mode & 07777) < 0) {
    return reply.Error(errno);
  }
  ReplyMade(r, reply, parent->fd.get(), name);
}

void FuseSession::Remove(const FuseRequest& r, FuseReply& reply, bool dir) {
  ArgReader args(r.args);
  std::string_view name;
  if (int err = ReadNewName(args, name)) return reply.Error(err);
  int parent_error = 0;
  Node* parent = nodes_.Find(r.header.nodeid, &parent_error);
  if (!parent) return reply.Error(parent_error);
  if (::unlinkat(parent->fd.get(), std::string(name).c_str(), dir ? AT_REMOVEDIR : 0) < 0) {
    return reply.Error(errno);
  }
  reply.Ok();
}

void FuseSession::Rename(const FuseRequest& r, FuseReply& reply, bool with_flags) {
  ArgReader args(r.args);
  uint64_t new_dir = 0;
  uint32_t flags = 0;
  if (with_flags) {
    auto in = args.Struct<fuse_rename2_in>();
    if (!in) return reply.Error(EINVAL);
    new_dir = in->newdir;
    flags = in->flags;
  } else {
    auto in = args.Struct<fuse_rename_in>();
    if (!in) return reply.Error(EINVAL);
    new_dir = in->newdir;
  }
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) return reply.Error(EINVAL);
  std::string_view old_name, new_name;
  if (int err = ReadNewName(args, old_name)) return reply.Error(err);
  if (int err = ReadNewName(args, new_name)) return reply.Error(err);
  int error = 0;
  Node* from = nodes_.Find(r.header.nodeid, &error);
  Node* to = from ? nodes_.Find(new_dir, &error) : nullptr;
  if (!from || !to) return reply.Error(error);
  if (::renameat2(from->fd.get(), std::string(old_name).c_str(), to->fd.get(),
                  std::string(new_name).c_str(), flags) < 0) {
    return reply.Error(errno);
  }
  reply.Ok();
}

void FuseSession::Link(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_link_in>();
  std::string_view name;
  if (!in) return reply.Error(EINVAL);
  if (int err = ReadNewName(args, name)) return reply.Error(err);
  int error = 0;
  Node* target = nodes_.Find(in->oldnodeid, &error);
  Node* parent = target ? nodes_.Find(r.header.nodeid, &error) : nullptr;
  if (!target || !parent) return reply.Error(error);
  if (target->type == S_IFDIR) return reply.Error(EPERM);
  if (::linkat(AT_FDCWD, ProcFdPath(target->fd.get()).c_str(), parent->fd.get(),
               std::string(name).c_str(), AT_SYMLINK_FOLLOW) < 0) {
    return reply.Error(errno);
  }
  fuse_entry_out out;
  if (int err = LookupEntry(r.header.nodeid, name, out)) return reply.Error(err);
  ReplyEntry(reply, out);
}

void FuseSession::StatFs(const FuseRequest& r, FuseReply& reply) {
  int node_error = 0;
  Node* node = nodes_.Find(r.header.nodeid, &node_error);
  if (!node) return reply.Error(node_error);
  struct statfs s;
  if (::fstatfs(node->fd.get(), &s) < 0) return reply.Error(errno);
  fuse_statfs_out out{};
  out.st.blocks = s.f_blocks;
  out.st.bfree = s.f_bfree;
  out.st.bavail = s.f_bavail;
  out.st.files = s.f_files;
  out.st.ffree = s.f_ffree;
  out.st.bsize = static_cast<uint32_t>(s.f_bsize);
  out.st.namelen = static_cast<uint32_t>(s.f_namelen);
  out.st.frsize = static_cast<uint32_t>(s.f_frsize);
  reply.OkStruct(out);
}

void FuseSession::Access(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_access_in>();
  if (!in) return reply.Error(EINVAL);
  int node_error = 0;
  Node* node = nodes_.Find(r.header.nodeid, &node_error);
  if (!node) return reply.Error(node_error);
  if (node->type == S_IFLNK) return (void)reply.Ok();  // a link's own permissions mean nothing
  if (::faccessat(AT_FDCWD, ProcFdPath(node->fd.get()).c_str(), static_cast<int>(in->mask & 7),
                  AT_EACCESS) < 0) {
    return reply.Error(errno);
  }
  reply.Ok();
}

}  // namespace uvm::devices::virtio::fs
