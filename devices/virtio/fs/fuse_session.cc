#include "devices/virtio/fs/fuse_session.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>

namespace uvm::devices::virtio::fs {
namespace {

// virtio-fs arrived with protocol 7.31 (Linux 5.4); older drivers are refused.
constexpr uint32_t kMinMinor = 31;

// What uvm offers in FUSE_INIT, each only if the driver offered it too.
constexpr uint32_t kInitFlags = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES |
                                FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_PARALLEL_DIROPS |
                                FUSE_AUTO_INVAL_DATA | FUSE_MAX_PAGES;

}  // namespace

ProcFdPath::ProcFdPath(int fd) { std::snprintf(buf, sizeof(buf), "/proc/self/fd/%d", fd); }

bool ChangesShare(uint32_t opcode) {
  switch (opcode) {
    case FUSE_SETATTR:
    case FUSE_SYMLINK:
    case FUSE_MKNOD:
    case FUSE_MKDIR:
    case FUSE_UNLINK:
    case FUSE_RMDIR:
    case FUSE_RENAME:
    case FUSE_RENAME2:
    case FUSE_LINK:
    case FUSE_WRITE:
    case FUSE_SETXATTR:
    case FUSE_REMOVEXATTR:
    case FUSE_CREATE:
    case FUSE_FALLOCATE:
    case FUSE_COPY_FILE_RANGE:
    case FUSE_TMPFILE:
      return true;
    default:
      return false;
  }
}

Result<std::unique_ptr<FuseSession>> FuseSession::Open(const ShareConfig& config) {
  UniqueFd root(::open(config.host_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoErr("share " + config.host_dir);
  struct stat st;
  if (::fstat(root.get(), &st) < 0) return ErrnoErr("share " + config.host_dir + ": fstat");
  // For open_by_handle_at, which takes no O_PATH descriptor; without it nodes are never reopened.
  UniqueFd mount_fd(::openat(root.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return std::unique_ptr<FuseSession>(
      new FuseSession(config, std::move(root), st, std::move(mount_fd)));
}

FuseSession::FuseSession(const ShareConfig& config, UniqueFd root, const struct stat& st,
                         UniqueFd mount_fd)
    : config_(config),
      nodes_(std::move(root), st, std::move(mount_fd), config.max_nodes, config.max_open),
      handles_(config.max_handles),
      running_as_root_(::geteuid() == 0) {}

void FuseSession::Reset() {
  handles_.Clear();
  nodes_.Clear();
  initialized_ = false;
  minor_ = 0;
}

void FuseSession::HandleHiprio(const FuseRequest& request) {
  if (!initialized_) return;
  const uint32_t op = request.header.opcode;
  if (op == FUSE_FORGET || op == FUSE_BATCH_FORGET) Forget(request);
}

void FuseSession::Forget(const FuseRequest& r) {
  ArgReader args(r.args);
  if (r.header.opcode == FUSE_FORGET) {
    if (auto in = args.Struct<fuse_forget_in>()) nodes_.Forget(r.header.nodeid, in->nlookup);
    return;
  }
  auto in = args.Struct<fuse_batch_forget_in>();
  if (!in) return;
  // `count` is the guest's: the loop stops where the arguments do.
  for (uint32_t i = 0; i < in->count; ++i) {
    auto one = args.Struct<fuse_forget_one>();
    if (!one) return;
    nodes_.Forget(one->nodeid, one->nlookup);
  }
}

void FuseSession::Init(const FuseRequest& r, FuseReply& reply) {
  ArgReader args(r.args);
  // 16 bytes up to 7.35; flags2 and padding after that.
  auto in = args.StructPrefix<fuse_init_in>(std::min(args.remaining(), sizeof(fuse_init_in)));
  if (!in || r.args.size() < offsetof(fuse_init_in, flags2)) return reply.Error(EINVAL);
  if (initialized_) return reply.Error(EPROTO);
  fuse_init_out out{};
  out.major = FUSE_KERNEL_VERSION;
  out.minor = FUSE_KERNEL_MINOR_VERSION;
  // A newer major: answer with ours alone and let the driver decide (the FUSE handshake).
  if (in->major > FUSE_KERNEL_VERSION) return (void)reply.OkStruct(out);
  if (in->major < FUSE_KERNEL_VERSION || in->minor < kMinMinor) return reply.Error(EPROTO);
  minor_ = std::min<uint32_t>(in->minor, FUSE_KERNEL_MINOR_VERSION);
  out.minor = minor_;
  out.max_readahead = in->max_readahead;
  out.flags = in->flags & kInitFlags;
  out.max_background = 64;
  out.congestion_threshold = 48;
  out.max_write = kMaxIoBytes;
  out.time_gran = 1;
  out.max_pages = static_cast<uint16_t>(kMaxIoBytes / 4096);
  initialized_ = true;
  reply.OkStruct(out);
}

void FuseSession::Handle(const FuseRequest& r, FuseReply& reply) {
  const uint32_t op = r.header.opcode;
  if (op == FUSE_INIT) return Init(r, reply);
  if (!initialized_) return reply.Error(EIO);
  if (op == FUSE_FORGET || op == FUSE_BATCH_FORGET) return Forget(r);
  if (config_.read_only && ChangesShare(op)) return reply.Error(EROFS);
  switch (op) {
    case FUSE_DESTROY:
      Reset();
      return (void)reply.Ok();
    case FUSE_LOOKUP:
      return Lookup(r, reply);
    case FUSE_GETATTR:
      return GetAttr(r, reply);
    case FUSE_SETATTR:
      return SetAttr(r, reply);
    case FUSE_READLINK:
      return ReadLink(r, reply);
    case FUSE_SYMLINK:
      return Symlink(r, reply);
    case FUSE_MKNOD:
      return MakeNode(r, reply);
    case FUSE_MKDIR:
      return MakeDir(r, reply);
    case FUSE_UNLINK:
      return Remove(r, reply, false);
    case FUSE_RMDIR:
      return Remove(r, reply, true);
    case FUSE_RENAME:
      return Rename(r, reply, false);
    case FUSE_RENAME2:
      return Rename(r, reply, true);
    case FUSE_LINK:
      return Link(r, reply);
    case FUSE_STATFS:
      return StatFs(r, reply);
    case FUSE_ACCESS:
      return Access(r, reply);
    case FUSE_OPEN:
      return OpenNode(r, reply, false);
    case FUSE_OPENDIR:
      return OpenNode(r, reply, true);
    case FUSE_CREATE:
      return Create(r, reply);
    case FUSE_READ:
      return Read(r, reply);
    case FUSE_WRITE:
      return Write(r, reply);
    case FUSE_RELEASE:
    case FUSE_RELEASEDIR:
      return Release(r, reply);
    case FUSE_FSYNC:
    case FUSE_FSYNCDIR:
      return Fsync(r, reply);
    case FUSE_FLUSH:
      return Flush(r, reply);
    case FUSE_FALLOCATE:
      return Fallocate(r, reply);
    case FUSE_LSEEK:
      return Lseek(r, reply);
    case FUSE_COPY_FILE_RANGE:
      return CopyFileRange(r, reply);
    case FUSE_SETXATTR:
      return SetXattr(r, reply);
    case FUSE_GETXATTR:
      return GetXattr(r, reply, false);
    case FUSE_LISTXATTR:
      return GetXattr(r, reply, true);
    case FUSE_REMOVEXATTR:
      return RemoveXattr(r, reply);
    case FUSE_READDIR:
      return ReadDir(r, reply, false);
    case FUSE_READDIRPLUS:
      return ReadDir(r, reply, true);
    case FUSE_SYNCFS: {
      Node* root = nodes_.Find(NodeTable::kRootId);
      UniqueFd fd(::open(ProcFdPath(root->fd.get()).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!fd.valid() || ::syncfs(fd.get()) < 0) return reply.Error(errno);
      return (void)reply.Ok();
    }
    case FUSE_INTERRUPT:
      return;  // virtio-fs requests are not interrupted; Linux does not send it
    default:
      // GETLK/SETLK (not offered: the guest locks locally), IOCTL, POLL, BMAP, TMPFILE, DAX
      // mappings: the guest falls back or reports it unsupported.
      return reply.Error(ENOSYS);
  }
}

int FuseSession::StatNode(const Node& node, struct stat& st) const {
  if (::fstatat(node.fd.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) return errno;
  return 0;
}

void FuseSession::FillAttr(const struct stat& st, fuse_attr& attr) const {
  attr = {};
  attr.ino = st.st_ino;
  attr.size = static_cast<uint64_t>(st.st_size);
  attr.blocks = static_cast<uint64_t>(st.st_blocks);
  attr.atime = static_cast<uint64_t>(st.st_atim.tv_sec);
  attr.mtime = static_cast<uint64_t>(st.st_mtim.tv_sec);
  attr.ctime = static_cast<uint64_t>(st.st_ctim.tv_sec);
  attr.atimensec = static_cast<uint32_t>(st.st_atim.tv_nsec);
  attr.mtimensec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
  attr.ctimensec = static_cast<uint32_t>(st.st_ctim.tv_nsec);
  attr.mode = st.st_mode;
  attr.nlink = static_cast<uint32_t>(st.st_nlink);
  attr.uid = st.st_uid;
  attr.gid = st.st_gid;
  attr.rdev = static_cast<uint32_t>(st.st_rdev);
  attr.blksize = static_cast<uint32_t>(st.st_blksize);
}

int FuseSession::LookupEntry(uint64_t parent_id, std::string_view name, fuse_entry_out& out) {
  out = {};
  int parent_error = 0;
  Node* parent = nodes_.Find(parent_id, &parent_error);
  if (!parent) return parent_error;
  if (parent->type != S_IFDIR) return ENOTDIR;
  UniqueFd fd;
  if (name == ".." && parent_id == NodeTable::kRootId) name = ".";
  fd.Reset(::openat(parent->fd.get(), std::string(name).c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return errno;
  struct stat st;
  if (::fstatat(fd.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) return errno;
  // ".." below the root may lead anywhere the host has moved things; only a node the session
  // already holds (and so reached from the root) is accepted.
  if (name == ".." && nodes_.IdOf(st.st_dev, st.st_ino) == 0) return ENOENT;
  int err = 0;
  const uint64_t id = nodes_.Add(std::move(fd), st, &err);
  if (id == 0) return err;
  out.nodeid = id;
  out.entry_valid = config_.cache_seconds;
  out.attr_valid = config_.cache_seconds;
  FillAttr(st, out.attr);
  return 0;
}

void FuseSession::ReplyEntry(FuseReply& reply, const fuse_entry_out& out) {
  if (!reply.OkStruct(out)) nodes_.Forget(out.nodeid, 1);
}

void FuseSession::ReplyMade(const FuseRequest& r, FuseReply& reply, int dir_fd,
                            std::string_view name) {
  SetOwner(dir_fd, name, r.header);
  fuse_entry_out out;
  if (int err = LookupEntry(r.header.nodeid, name, out)) return reply.Error(err);
  ReplyEntry(reply, out);
}

void FuseSession::SetOwner(int dir_fd, std::string_view name, const fuse_in_header& h) const {
  if (!running_as_root_) return;  // nobody else may give files away
  struct stat dir;
  if (::fstat(dir_fd, &dir) < 0) return;
  const gid_t gid = (dir.st_mode & S_ISGID) ? static_cast<gid_t>(-1) : h.gid;
  (void)::fchownat(dir_fd, std::string(name).c_str(), h.uid, gid, AT_SYMLINK_NOFOLLOW);
}

}  // namespace uvm::devices::virtio::fs
