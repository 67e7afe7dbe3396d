#include "runtime/template_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/random_id.h"
#include "base/sha256.h"
#include "base/unique_fd.h"
#include "guest-agent/protocol/messages.h"
#include "runtime/agent_vm.h"
#include "runtime/exec_spec.h"
#include "runtime/paths.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/utility_vm.h"

namespace uvm::runtime {
namespace {

// Bump when what a template holds changes meaning (the device layout, the agent's readiness).
constexpr int kTemplateFormat = 3;
constexpr char kInfoFile[] = "template.json";
// The empty vda of a template of no image, kept for clones without a disk (see Create).
constexpr char kPlaceholderDisk[] = "placeholder.img";
constexpr auto kTemplateAgentTimeout = std::chrono::seconds(120);
// How much of an image a template reads into its page cache: at most a quarter of the guest's
// RAM, and 64 MiB (the files a container starts with come first: warming is breadth-first).
constexpr uint64_t kMaxWarmBytes = 64ull << 20;

Result<std::string> FileIdentity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) < 0) return ErrnoErr(path);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

Result<TemplateInfo> ReadInfo(const std::string& dir, const std::string& key) {
  const std::string path = dir + "/" + kInfoFile;
  UVM_TRY(std::string text, ReadFileLimited(path, 64 * 1024));
  UVM_TRY(nlohmann::json j, ParseJsonObject(text, path));
  TemplateInfo info;
  info.key = key;
  info.dir = dir;
  UVM_TRY(info.shape, Context(ShapeFromJson(j), path));
  info.created = j.value("created", int64_t{0});
  struct stat st {};
  if (::stat((dir + "/" + vmm::snapshot::kMemoryFile).c_str(), &st) == 0) {
    info.memory_on_disk = static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return info;
}

// A tap for the template VM's net device: "uvmt" + 8 random hex digits (uvm run's are "uvm" + 8,
// so the two never meet). Not persistent: it vanishes with the template VM.
std::string TemplateTapName() { return "uvmt" + RandomHexId(8); }

// Any unicast, locally administered MAC (IEEE 802: 0x02 in the first octet): every clone sets
// its own on eth0.
constexpr char kTemplateMac[] = "02:00:00:00:00:01";

}  // namespace

std::string DeviceLayout(const TemplateShape& shape) {
  std::string layout = shape.net ? "vda,vsock,net" : "vda,vsock";
  for (int i = 0; i < shape.shares; ++i) layout += "," + ShareTag(i);
  return layout;
}

vmm::UtilityVmSpec ContainerVmSpec(const TemplateShape& shape, const std::string& template_dir) {
  vmm::UtilityVmSpec spec;
  spec.kernel = shape.kernel;
  spec.initrd = shape.initrd;
  spec.restore_dir = template_dir;
  spec.cmdline = UtilityVmCmdline();
  if (!shape.image_disk.empty()) {
    spec.disks = {{shape.image_disk, true}};
  } else if (!template_dir.empty()) {
    spec.disks = {{template_dir + "/" + kPlaceholderDisk, true}};
  }
  spec.memory_bytes = shape.memory_mib << 20;
  spec.cpus = shape.cpus;
  // Unbound: the caller binds a clone's (or a boot's) directories in their place.
  for (int i = 0; i < shape.shares; ++i) spec.shares.push_back({ShareTag(i), {}});
  return spec;
}

Result<void> WriteTemplateInfo(const std::string& dir, const TemplateShape& shape) {
  nlohmann::json info = ShapeToJson(shape);
  info["created"] = static_cast<int64_t>(std::time(nullptr));
  info["format"] = kTemplateFormat;
  return WriteFileAtomic(dir + "/" + kInfoFile, info.dump(2) + "\n");
}

Result<std::string> TemplateKey(const TemplateShape& shape) {
  UVM_TRY(std::string kernel, Context(FileIdentity(shape.kernel), "guest kernel"));
  UVM_TRY(std::string initrd, Context(FileIdentity(shape.initrd), "agent initramfs"));
  std::string image = "no image";
  if (!shape.image_disk.empty()) {
    UVM_TRY(std::string disk, Context(FileIdentity(shape.image_disk), "image disk"));
    image = "image " + shape.image_disk + "\n" + disk;
  }
  Sha256 h;
  h.Update("uvm template " + std::to_string(kTemplateFormat) + "\n" + shape.kernel + "\n" + kernel +
           "\n" + shape.initrd + "\n" + initrd + "\n" + UtilityVmCmdline() + "\n" +
           std::to_string(shape.memory_mib) + " MiB\n" + std::to_string(shape.cpus) + " vCPUs\n" +
           DeviceLayout(shape) + "\n" + image + "\n");
  return h.FinishHex().substr(0, 16);
}

std::optional<std::string> TemplateStore::Find(const std::string& key) const {
  const std::string dir = dir_ + "/" + key;
  if (::access((dir + "/" + vmm::snapshot::kStateFile).c_str(), R_OK) != 0) return std::nullopt;
  return dir;
}

Result<std::string> TemplateStore::Create(const TemplateShape& shape,
                                          const std::string& key) const {
  // A new template is often the successor of one a rebuilt kernel or agent, or a re-imported
  // image, made useless: that one's memory file goes now, not at the next `uvm template rm`.
  if (auto removed = RemoveStale(); !removed) Log(LogLevel::kWarn, removed.error().message);
  UVM_CHECK(MakeDirs(dir_, 0755));
  UVM_TRY(TempDir work, TempDir::Create(dir_, ".new-" + key + "-"));

  // Without an image, the container's disk is attached to each clone as a resize of vda (virtio
  // 1.x 5.2.4), so the template boots with an empty one there.
  const std::string placeholder = work.path() + "/" + kPlaceholderDisk;
  if (shape.image_disk.empty()) {
    UniqueFd f(::open(placeholder.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!f.valid()) return ErrnoErr("creating " + placeholder);
  }
  vmm::UtilityVmSpec spec = ContainerVmSpec(shape, "");
  spec.disks = {{shape.image_disk.empty() ? placeholder : shape.image_disk, true}};
  if (shape.net) {
    UVM_TRY(auto mac, devices::virtio::net::ParseMac(kTemplateMac));
    spec.nets = {{TemplateTapName(), mac}};
  }
  spec.save_dir = work.path();
  const auto started = std::chrono::steady_clock::now();
  // The VM's socket and console in /run/uvm/template-XXXXXX: unix socket paths are short, and in
  // the lab the state root is a 9p share where sockets cannot be bound.
  UVM_CHECK(EnsureRunDir());
  UVM_TRY(TempDir run, TempDir::Create(kRunDir, "template-"));
  auto vm = AgentVm::Start(std::move(run), spec, kTemplateAgentTimeout);
  if (!vm) {
    if (vm.error().code == ErrorCode::kInterrupted) {
      return Err(ErrorCode::kInterrupted, "template creation " + vm.error().message);
    }
    return Err(vm.error().code, "creating a template: " + vm.error().message);
  }
  if (!shape.image_disk.empty()) {
    const uint64_t budget = std::min(kMaxWarmBytes, (shape.memory_mib << 20) / 4);
    auto prepared = (*vm)->agent()->PrepareImage(ContainerRootfs(), budget, kTemplateAgentTimeout);
    if (!prepared) {
      return tl::unexpected((*vm)->Fail("creating a template for " + shape.image_disk + ": " +
                                        prepared.error().message));
    }
    Log(LogLevel::kDebug, "template: " + std::to_string(prepared->files) + " files, " +
                              std::to_string(prepared->bytes >> 10) + " KiB of the image read");
  }
  // The template keeps no connection: the proof of life is closed before the save (and each
  // clone resets its vsock transport, so a half-closed one could not hang a clone either).
  UVM_TRY(vmm::LinuxVmResult ended, (*vm)->SaveAndStop());
  if (ended.exit.kind != vmm::ExitKind::kSave) {
    return Err(ErrorCode::kGuestFailed,
               "the template VM ended before it was saved: " + ended.exit.detail);
  }
  // Kept (empty, 0 bytes): a clone with no disk of its own (uvm run --rootfs) attaches it as its
  // vda, so the device layout is the snapshot's.

  UVM_CHECK(WriteTemplateInfo(work.path(), shape));
  const std::string dir = dir_ + "/" + key;
  if (::rename(work.path().c_str(), dir.c_str()) == 0) {
    work.Release();
  } else if (errno == EEXIST || errno == ENOTEMPTY) {
    if (auto other = Find(key)) return *other;  // another uvm finished first: use its template
    return Err(ErrorCode::kExists, dir +
                                       " exists but holds no template (remove it with `uvm "
                                       "template rm " +
                                       key + "`)");
  } else {
    return ErrnoErr("storing the template as " + dir);
  }
  Log(LogLevel::kInfo, "template " + key + " created in " +
                           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::steady_clock::now() - started)
                                              .count()) +
                           " ms");
  return dir;
}

Result<std::string> TemplateStore::FindOrCreate(const TemplateShape& shape,
                                                const std::string& key) const {
  if (auto dir = Find(key)) return *dir;
  return Create(shape, key);
}

Result<std::vector<std::string>> TemplateStore::RemoveStale() const {
  UVM_TRY(std::vector<TemplateInfo> all, List());
  std::vector<std::string> removed;
  for (const TemplateInfo& t : all) {
    auto key = TemplateKey(t.shape);
    if (key && *key == t.key) continue;
    UVM_CHECK(RemoveTree(t.dir));
    Log(LogLevel::kDebug, "removed template " + t.key + " (" +
                              (key ? std::string("its files changed") : key.error().message) + ")");
    removed.push_back(t.key);
  }
  return removed;
}

Result<std::vector<TemplateInfo>> TemplateStore::List() const {
  std::vector<TemplateInfo> out;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return ErrnoErr("listing " + dir_);
  }
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (!IsTemplateKey(name) || !Find(name)) continue;
    auto info = ReadInfo(dir_ + "/" + name, name);
    if (!info) {
      Log(LogLevel::kWarn, info.error().message);
      continue;
    }
    out.push_back(std::move(*info));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(),
            [](const TemplateInfo& a, const TemplateInfo& b) { return a.created < b.created; });
  return out;
}

Result<std::string> TemplateStore::Remove(const std::string& key) const {
  if (key.empty() || key.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Err("template key " + key + ": expected hex digits (see `uvm template ls`)");
  }
  std::vector<std::string> matches;
  DIR* d = ::opendir(dir_.c_str());
  if (d) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (IsTemplateKey(name) && name.starts_with(key)) matches.push_back(name);
    }
    ::closedir(d);
  }
  if (matches.empty()) return Err("no template " + key + " (see `uvm template ls`)");
  if (matches.size() > 1) return Err("template key " + key + " is ambiguous: give more digits");
  UVM_CHECK(RemoveTree(dir_ + "/" + matches[0]));
  return matches[0];
}

}  // namespace uvm::runtime
