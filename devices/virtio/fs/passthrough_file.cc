// FuseSession's open files and extended attributes (see fuse_session.h for the rules they keep).
#include <fcntl.h>
#include <linux/xattr.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <string>
#include <vector>

#include "devices/virtio/fs/fuse_session.h"

namespace uvm::devices::virtio::fs {
namespace {

// The open flags a guest's OPEN or CREATE carries over to the host. O_CREAT and O_EXCL are
// CREATE's own; O_DIRECT's alignment rules are the guest's business, not the host file's;
// O_NOATIME and O_NOCTTY mean nothing here.
constexpr int kPassedOpenFlags = O_ACCMODE | O_APPEND | O_TRUNC | O_SYNC | O_DSYNC | O_NONBLOCK;

// The most one COPY_FILE_RANGE moves: the device thread serves other requests in between.
constexpr uint64_t kMaxCopyBytes = 64ull << 20;

bool Writes(int flags) { return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC); }

// An xattr name from the arguments: 0, or the errno a bad one gets.
int ReadXattrName(ArgReader& args, std::string& name) {
  auto s = args.String();
  if (!s || s->empty()) return EINVAL;
  if (s->size() > XATTR_NAME_MAX) return ERANGE;
  name = std::string(*s);
  return 0;
}

}  // namespace

void FuseSession::OpenNode(const FuseRequest& r, FuseReply& reply, bool dir) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_open_in>();
  if (!in) return reply.Error(EINVAL);
  int node_error = 0;
  Node* node = nodes_.Find(r.header.nodeid, &node_error);
  if (!node) return reply.Error(node_error);
  int flags = static_cast<int>(in->flags) & kPassedOpenFlags;
  if (dir) {
    if (node->type != S_IFDIR) return reply.Error(ENOTDIR);
    flags = O_RDONLY | O_DIRECTORY;
  } else {
    // FIFOs, sockets and devices are opened by the guest's kernel itself, never here: the host
    // must not block on a FIFO or open a device for it.
    if (node->type == S_IFDIR) return reply.Error(EISDIR);
    if (node->type != S_IFREG) return reply.Error(EINVAL);
    if (config_.read_only && Writes(flags)) return reply.Error(EROFS);
  }
  // Reopened through the magic link: the inode looked up, whatever its name points at now.
  UniqueFd fd(::open(ProcFdPath(node->fd.get()).c_str(), flags | O_CLOEXEC));
  if (!fd.valid()) return reply.Error(errno);
  int err = 0;
  OpenFile file;
  file.fd = std::move(fd);
  file.node = r.header.nodeid;
  file.dir = dir;
  const uint64_t fh = handles_.Add(std::move(file), &err);
  if (fh == 0) return reply.Error(err);
  fuse_open_out out{};
  out.fh = fh;
  reply.OkStruct(out);
}

void FuseSession::Create(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_create_in>();
  if (!in) return reply.Error(EINVAL);
  auto name = args.String();
  if (!name) return reply.Error(EINVAL);
  if (name->size() > NAME_MAX) return reply.Error(ENAMETOOLONG);
  if (!IsEntryName(*name) || *name == "." || *name == "..") return reply.Error(EINVAL);
  int parent_error = 0;
  Node* parent = nodes_.Find(r.header.nodeid, &parent_error);
  if (!parent) return reply.Error(parent_error);
  if (parent->type != S_IFDIR) return reply.Error(ENOTDIR);
  const std::string name_s(*name);
  const int flags = (static_cast<int>(in->flags) & kPassedOpenFlags) | O_CLOEXEC | O_NOFOLLOW;
  const mode_t mode = in->mode & 07777;
  // Created here (and so to be given to the caller), or opened as it was?
  UniqueFd fd(::openat(parent->fd.get(), name_s.c_str(), flags | O_CREAT | O_EXCL, mode));
  bool created = fd.valid();
  if (!created && errno == EEXIST && !(in->flags & O_EXCL)) {
    fd.Reset(::openat(parent->fd.get(), name_s.c_str(), flags));
  }
  if (!fd.valid()) return reply.Error(errno);
  if (created) SetOwner(parent->fd.get(), *name, r.header);
  fuse_entry_out entry;
  if (int err = LookupEntry(r.header.nodeid, *name, entry)) return reply.Error(err);
  int err = 0;
  OpenFile file;
  file.fd = std::move(fd);
  file.node = entry.nodeid;
  const uint64_t fh = handles_.Add(std::move(file), &err);
  if (fh == 0) {
    nodes_.Forget(entry.nodeid, 1);  // the guest never hears of this lookup
    return reply.Error(err);
  }
  fuse_open_out open{};
  open.fh = fh;
  if (!reply.OkStructs(entry, open)) {
    handles_.Remove(fh);
    nodes_.Forget(entry.nodeid, 1);
  }
}

void FuseSession::Read(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_read_in>();
  if (!in) return reply.Error(EINVAL);
  if (in->size > kMaxIoBytes) return reply.Error(EINVAL);
  OpenFile* file = handles_.Find(in->fh);
  if (!file || file->dir) return reply.Error(EBADF);
  std::vector<iovec> iov;
  reply.DataIovecs(in->size, iov);
  if (iov.size() > IOV_MAX) iov.resize(IOV_MAX);  // only a hostile chain is cut that fine
  ssize_t n = iov.empty() ? 0
                          : ::preadv(file->fd.get(), iov.data(), static_cast<int>(iov.size()),
                                     static_cast<off_t>(in->offset));
  if (n < 0) return reply.Error(errno);
  reply.CommitData(static_cast<uint64_t>(n));
}

void FuseSession::Write(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_write_in>();
  if (!in) return reply.Error(EINVAL);
  OpenFile* file = handles_.Find(in->fh);
  if (!file || file->dir) return reply.Error(EBADF);
  if ((in->write_flags & FUSE_WRITE_KILL_SUIDGID) && running_as_root_) {
    // A root writer keeps set-ID bits on the host; the guest asked for them to go, as they
    // would for an unprivileged writer.
    struct stat st;
    if (::fstat(file->fd.get(), &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID))) {
      (void)::fchmod(file->fd.get(), st.st_mode & 07777 & ~(S_ISUID | S_ISGID));
    }
  }
  std::vector<iovec> iov;
  iov.reserve(r.write_data.size());
  for (auto s : r.write_data) iov.push_back({s.data(), s.size()});
  uint64_t done = 0;
  for (size_t at = 0; at < iov.size();) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - at, IOV_MAX));
    uint64_t want = 0;
    for (int i = 0; i < count; ++i) want += iov[at + i].iov_len;
    const ssize_t n =
        ::pwritev(file->fd.get(), iov.data() + at, count, static_cast<off_t>(in->offset + done));
    if (n < 0) {
      if (done == 0) return reply.Error(errno);
      break;
    }
    done += static_cast<uint64_t>(n);
    if (static_cast<uint64_t>(n) < want) break;  // a short write (a full disk): report it
    at += static_cast<size_t>(count);
  }
  fuse_write_out out{};
  out.size = static_cast<uint32_t>(done);
  reply.OkStruct(out);
}

void FuseSession::Release(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_release_in>();
  if (!in) return reply.Error(EINVAL);
  handles_.Remove(in->fh);
  reply.Ok();
}

void FuseSession::Fsync(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_fsync_in>();
  if (!in) return reply.Error(EINVAL);
  OpenFile* file = handles_.Find(in->fh);
  if (!file) return reply.Error(EBADF);
  const int rc = (in->fsync_flags & 1) ? ::fdatasync(file->fd.get()) : ::fsync(file->fd.get());
  if (rc < 0) return reply.Error(errno);
  reply.Ok();
}

void FuseSession::Flush(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_flush_in>();
  if (!in) return reply.Error(EINVAL);
  if (!handles_.Find(in->fh)) return reply.Error(EBADF);
  reply.Ok();  // writes are already the host's; no host locks to drop
}

void FuseSession::Fallocate(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_fallocate_in>();
  if (!in) return reply.Error(EINVAL);
  OpenFile* file = handles_.Find(in->fh);
  if (!file || file->dir) return reply.Error(EBADF);
  if (::fallocate(file->fd.get(), static_cast<int>(in->mode), static_cast<off_t>(in->offset),
                  static_cast<off_t>(in->length)) < 0) {
    return reply.Error(errno);
  }
  reply.Ok();
}

void FuseSession::Lseek(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_lseek_in>();
  if (!in) return reply.Error(EINVAL);
  if (in->whence != SEEK_DATA && in->whence != SEEK_HOLE) return reply.Error(EINVAL);
  OpenFile* file = handles_.Find(in->fh);
  if (!file || file->dir) return reply.Error(EBADF);
  const off_t at = ::lseek(file->fd.get(), static_cast<off_t>(in->offset), in->whence);
  if (at < 0) return reply.Error(errno);
  fuse_lseek_out out{};
  out.offset = static_cast<uint64_t>(at);
  reply.OkStruct(out);
}

void FuseSession::CopyFileRange(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_copy_file_range_in>();
  if (!in) return reply.Error(EINVAL);
  if (in->flags != 0) return reply.Error(EINVAL);
  OpenFile* from = handles_.Find(in->fh_in);
  OpenFile* to = handles_.Find(in->fh_out);
  if (!from || !to || from->dir || to->dir) return reply.Error(EBADF);
  loff_t off_in = static_cast<loff_t>(in->off_in);
  loff_t off_out = static_cast<loff_t>(in->off_out);
  const ssize_t n = ::copy_file_range(from->fd.get(), &off_in, to->fd.get(), &off_out,
                                      std::min<uint64_t>(in->len, kMaxCopyBytes), 0);
  if (n < 0) return reply.Error(errno);
  fuse_write_out out{};
  out.size = static_cast<uint32_t>(n);
  reply.OkStruct(out);
}

void FuseSession::SetXattr(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  // Without FUSE_SETXATTR_EXT (not offered) the driver sends the struct's first 8 bytes only.
  auto in = args.StructPrefix<fuse_setxattr_in>(FUSE_COMPAT_SETXATTR_IN_SIZE);
  if (!in) return reply.Error(EINVAL);
  std::string name;
  if (int err = ReadXattrName(args, name)) return reply.Error(err);
  auto value = args.Bytes(in->size);
  if (!value || in->size > XATTR_SIZE_MAX)
    return reply.Error(in->size > XATTR_SIZE_MAX ? E2BIG : EINVAL);
  int node_error = 0;
  Node* node = nodes_.Find(r.header.nodeid, &node_error);
  if (!node) return reply.Error(node_error);
  if (::setxattr(ProcFdPath(node->fd.get()).c_str(), name.c_str(), value->data(), value->size(),
                 static_cast<int>(in->flags)) < 0) {
    return reply.Error(errno);
  }
  reply.Ok();
}

void FuseSession::GetXattr(const FuseRequest& r, FuseReply& reply, bool list) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_getxattr_in>();
  if (!in) return reply.Error(EINVAL);
  std::string name;
  if (!list) {
    if (int err = ReadXattrName(args, name)) return reply.Error(err);
  }
  int node_error = 0;
  Node* node = nodes_.Find(r.header.nodeid, &node_error);
  if (!node) return reply.Error(node_error);
  const ProcFdPath path(node->fd.get());
  // size 0 asks how big the answer is; otherwise it is the guest's buffer (at most 64 KiB).
  const size_t size = std::min<size_t>(in->size, XATTR_SIZE_MAX);
  std::vector<char> buf(size);
  const ssize_t n = list
                        ? ::listxattr(path.c_str(), size ? buf.data() : nullptr, size)
                        : ::getxattr(path.c_str(), name.c_str(), size ? buf.data() : nullptr, size);
  if (n < 0) return reply.Error(errno);
  if (in->size == 0) {
    fuse_getxattr_out out{};
    out.size = static_cast<uint32_t>(n);
    return (void)reply.OkStruct(out);
  }
  reply.Ok(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(buf.data()), size_t(n)));
}

void FuseSession::RemoveXattr(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  std::string name;
  if (int err = ReadXattrName(args, name)) return reply.Error(err);
  int node_error = 0;
  Node* node = nodes_.Find(r.header.nodeid, &node_error);
  if (!node) return reply.Error(node_error);
  if (::removexattr(ProcFdPath(node->fd.get()).c_str(), name.c_str()) < 0) {
    return reply.Error(errno);
  }
  reply.Ok();
}

}  // namespace uvm::devices::virtio::fs
