#include "store/image_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <memory>

#include "base/fs.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/unique_fd.h"
#include "store/image_build.h"
#include "store/source.h"

namespace uvm::store {
namespace {

constexpr size_t kMaxRecord = 1 << 20;

// Serialises commits and removals between uvm processes sharing a root.
class StoreLock {
 public:
  static Result<StoreLock> Take(const std::string& dir) {
    const std::string path = dir + "/lock";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd.valid()) return ErrnoErr(path);
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return ErrnoErr("locking " + path);
    }
    return StoreLock(std::move(fd));
  }

 private:
  explicit StoreLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing it releases the lock
};

// Work directories of imports that died without cleaning up (a crash, SIGKILL). A day is far
// longer than any import runs, so a live import's directory is never taken.
void RemoveStaleWork(const std::string& tmp) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(tmp.c_str()), ::closedir);
  if (!d) return;
  const time_t cutoff = std::time(nullptr) - 24 * 3600;
  while (struct dirent* e = ::readdir(d.get())) {
    std::string_view n = e->d_name;
    struct stat st;
    if (!n.starts_with("import-") ||
        ::fstatat(::dirfd(d.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        st.st_mtime > cutoff) {
      continue;
    }
    if (auto r = RemoveTreeAt(::dirfd(d.get()), e->d_name); !r) {
      Log(LogLevel::kWarn,
          "could not remove stale " + tmp + "/" + e->d_name + ": " + r.error().message);
    }
  }
}

}  // namespace

ImageConfig BusyboxConfig() {
  ImageConfig c;
  c.cmd = {"sh"};
  c.env = {kDefaultPath};
  return c;
}

std::string RootfsDigest(const std::vector<std::string>& diff_ids) {
  // The version names how disks are built; changing the recipe changes every digest.
  Sha256 h;
  h.Update("uvm-rootfs-ext4-v1\n");
  for (const std::string& d : diff_ids) h.Update(d + "\n");
  return "sha256:" + h.FinishHex();
}

Result<ImageStore> ImageStore::Open(const std::string& root, const std::string& builtin_dir) {
  if (root.empty()) return Err("--root is empty");
  const std::string dir = root + "/images";
  for (const char* sub : {"", "/records", "/disks", "/tmp"}) {
    UVM_CHECK(Context(MakeDirs(dir + sub, std::string(sub) == "/tmp" ? 0700 : 0755),
                      "opening the image store"));
  }
  return ImageStore(dir, builtin_dir);
}

Result<ImageRecord> ImageStore::Import(const std::string& source, const std::string& name) {
  return ImportAs(source, name, std::nullopt, source);
}

Result<ImageRecord> ImageStore::ImportAs(const std::string& source_text, const std::string& name,
                                         const std::optional<ImageConfig>& config_override,
                                         const std::string& source_label) {
  UVM_CHECK(CheckImageName(name));
  UVM_TRY(Source source, ParseSource(source_text));
  RemoveStaleWork(dir_ + "/tmp");
  UVM_TRY(TempDir work, TempDir::Create(dir_ + "/tmp", "import-"));
  UVM_TRY(BuiltImage built,
          Context(BuildImage(source, work.path(), dir_ + "/disks"), "importing " + source_text));
  ImageRecord record;
  record.name = name;
  record.digest = built.digest;
  record.disk = DiskFileName(built.digest);
  record.source = source_label;
  record.created = static_cast<int64_t>(std::time(nullptr));
  record.config = config_override ? *config_override : built.config;
  return Commit(std::move(record), built.disk_path);
}

Result<ImageRecord> ImageStore::Commit(ImageRecord record, const std::string& built_disk) {
  UVM_TRY(StoreLock lock, StoreLock::Take(dir_));
  const std::string disk = DiskPath(record.disk);
  struct stat st;
  if (::stat(disk.c_str(), &st) != 0) {
    if (built_disk.empty()) return Err("the disk " + disk + " vanished during the import");
    if (::rename(built_disk.c_str(), disk.c_str()) != 0) return ErrnoErr("storing " + disk);
    if (::stat(disk.c_str(), &st) != 0) return ErrnoErr(disk);
  }
  record.disk_bytes = static_cast<uint64_t>(st.st_size);
  UVM_TRY(std::optional<ImageRecord> previous, Find(record.name));
  UVM_CHECK(WriteFileAtomic(dir_ + "/records/" + RecordFileName(record.name),
                            SerializeImageRecord(record)));
  if (previous && previous->disk != record.disk) {
    UVM_TRY(std::vector<ImageRecord> all, List());
    bool used = std::any_of(all.begin(), all.end(),
                            [&](const ImageRecord& r) { return r.disk == previous->disk; });
    if (!used) ::unlink(DiskPath(previous->disk).c_str());
  }
  record.disk_path = disk;
  return record;
}

Result<std::optional<ImageRecord>> ImageStore::Find(const std::string& name) const {
  UVM_CHECK(CheckImageName(name));
  const std::string path = dir_ + "/records/" + RecordFileName(name);
  if (::access(path.c_str(), F_OK) != 0) return std::optional<ImageRecord>();
  UVM_TRY(std::string json, ReadFileLimited(path, kMaxRecord));
  UVM_TRY(ImageRecord r, Context(ParseImageRecord(json), path));
  r.disk_path = DiskPath(r.disk);
  return std::optional<ImageRecord>(std::move(r));
}

Result<std::vector<ImageRecord>> ImageStore::List() const {
  const std::string records = dir_ + "/records";
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(records.c_str()), ::closedir);
  if (!d) return ErrnoErr(records);
  std::vector<ImageRecord> out;
  while (struct dirent* e = ::readdir(d.get())) {
    std::string file = e->d_name;
    // Skips ".", "..", and temporary files of a write in progress.
    if (file.starts_with(".") || !file.ends_with(".json")) continue;
    auto json = ReadFileLimited(records + "/" + file, kMaxRecord);
    auto r = json ? ParseImageRecord(*json) : tl::unexpected<Error>(json.error());
    if (!r) {
      Log(LogLevel::kWarn, "skipping " + records + "/" + file + ": " + r.error().message);
      continue;
    }
    r->disk_path = DiskPath(r->disk);
    out.push_back(std::move(*r));
  }
  std::sort(out.begin(), out.end(),
            [](const ImageRecord& a, const ImageRecord& b) { return a.name < b.name; });
  return out;
}

Result<void> ImageStore::Remove(const std::string& name) {
  UVM_TRY(StoreLock lock, StoreLock::Take(dir_));
  UVM_TRY(std::optional<ImageRecord> record, Find(name));
  if (!record) return Err("no image named \"" + name + "\" (see `uvm image ls`)");
  const std::string path = dir_ + "/records/" + RecordFileName(name);
  if (::unlink(path.c_str()) != 0) return ErrnoErr("removing " + path);
  UVM_TRY(std::vector<ImageRecord> rest, List());
  bool used = std::any_of(rest.begin(), rest.end(),
                          [&](const ImageRecord& r) { return r.disk == record->disk; });
  if (!used && ::unlink(record->disk_path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoErr("removing " + record->disk_path);
  }
  return {};
}

Result<ImageRecord> ImageStore::Resolve(const std::string& name) {
  UVM_TRY(std::optional<ImageRecord> record, Find(name));
  if (record) {
    if (::access(record->disk_path.c_str(), R_OK) != 0) {
      return ErrnoErr("image \"" + name + "\": its disk " + record->disk_path +
                      " is unreadable; import it again");
    }
    return *record;
  }
  if (name == kBusyboxName && !builtin_dir_.empty()) {
    const std::string tar = builtin_dir_ + "/" + kBusyboxRootfsFile;
    if (::access(tar.c_str(), R_OK) == 0) {
      Log(LogLevel::kInfo, "importing the built-in busybox image from " + tar);
      return ImportAs(tar, name, BusyboxConfig(), "built-in");
    }
    return Err("the built-in busybox image " + tar + " is missing (run `make images`)");
  }
  return Err("no image named \"" + name +
             "\" (see `uvm image ls`; add one with `uvm image import SOURCE " + name + "`)");
}

}  // namespace uvm::store
