// FuseSession's directory listings: READDIR and READDIRPLUS (see fuse_session.h).
#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "devices/virtio/fs/fuse_session.h"

namespace uvm::devices::virtio::fs {
namespace {

// Linux's own record of getdents64(2).
struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  uint16_t d_reclen;
  uint8_t d_type;
  char d_name[];
};

constexpr size_t kGetdentsBytes = 32 * 1024;

}  // namespace

void FuseSession::ReadDir(const FuseRequest& r, FuseReply& reply, bool plus) {
  ArgReader args(r.args);
  auto in = args.Struct<fuse_read_in>();
  if (!in) return reply.Error(EINVAL);
  OpenFile* dir = handles_.Find(in->fh);
  if (!dir || !dir->dir) return reply.Error(EBADF);
  const size_t room =
      static_cast<size_t>(std::min<uint64_t>({in->size, reply.body_room(), uint64_t{kMaxIoBytes}}));
  // The guest's offset is the cookie of the last entry it has (0: from the start). Reading on
  // from where the previous call stopped needs no seek.
  if (static_cast<int64_t>(in->offset) != dir->dir_offset) {
    if (::lseek(dir->fd.get(), static_cast<off_t>(in->offset), SEEK_SET) < 0) {
      return reply.Error(errno);
    }
    dir->dir_offset = static_cast<int64_t>(in->offset);
  }
  std::vector<uint8_t> body;
  body.reserve(room);
  std::vector<uint8_t> raw(kGetdentsBytes);
  bool full = false;
  int64_t last_off = dir->dir_offset;
  while (!full) {
    const long n = ::syscall(SYS_getdents64, dir->fd.get(), raw.data(), raw.size());
    if (n < 0) {
      if (body.empty()) return reply.Error(errno);
      break;
    }
    if (n == 0) break;
    for (long at = 0; at < n;) {
      const auto* d = reinterpret_cast<const LinuxDirent64*>(raw.data() + at);
      at += d->d_reclen;
      const std::string_view name(d->d_name);
      const size_t entry_bytes = FUSE_DIRENT_ALIGN(sizeof(fuse_dirent) + name.size());
      const size_t record = plus ? sizeof(fuse_entry_out) + entry_bytes : entry_bytes;
      if (body.size() + record > room) {
        full = true;
        break;
      }
      fuse_entry_out entry{};
      if (plus && name != "." && name != "..") {
        // A failed lookup (the entry just went away) still lists the name, without attributes.
        if (LookupEntry(dir->node, name, entry) != 0) entry = {};
      }
      const size_t start = body.size();
      body.resize(start + record);
      uint8_t* p = body.data() + start;
      if (plus) {
        std::memcpy(p, &entry, sizeof(entry));
        p += sizeof(entry);
      }
      fuse_dirent dirent{};
      dirent.ino = d->d_ino;
      dirent.off = static_cast<uint64_t>(d->d_off);
      dirent.namelen = static_cast<uint32_t>(name.size());
      dirent.type = d->d_type;
      std::memcpy(p, &dirent, sizeof(dirent));
      std::memcpy(p + sizeof(dirent), name.data(), name.size());
      last_off = d->d_off;
    }
  }
  // getdents64 may have read past what fitted: the next call starts after the last entry sent.
  if (full && ::lseek(dir->fd.get(), static_cast<off_t>(last_off), SEEK_SET) < 0) {
    return reply.Error(errno);
  }
  dir->dir_offset = last_off;
  // Not even one entry fitted in the guest's buffer: an empty answer would read as the end.
  if (full && body.empty()) return reply.Error(EINVAL);
  reply.Ok(body);
}

}  // namespace uvm::devices::virtio::fs
