#include "oci/vm_bundle.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "base/json.h"
#include "base/quoted.h"
#include "oci/bundle_isolation.h"

namespace uvm::oci {
namespace {

using nlohmann::json;

// Builds the share list: each host directory once, read-only only while every use of it is.
class ShareList {
 public:
  ShareList(const std::function<std::string(int)>& tag_of, size_t max)
      : tag_of_(tag_of), max_(max) {}

  // The guest directory where host directory `dir` is.
  Result<std::string> Add(const std::string& dir, bool read_only) {
    for (size_t i = 0; i < shares_.size(); ++i) {
      if (shares_[i].host_dir == dir) {
        shares_[i].read_only = shares_[i].read_only && read_only;
        return GuestDir(i);
      }
    }
    if (shares_.size() == max_) {
      return Err("the bundle needs more than " + std::to_string(max_) +
                 " host directories in the VM (its root and the directories of its bind mounts)");
    }
    devices::virtio::fs::ShareConfig share;
    share.host_dir = dir;
    share.read_only = read_only;
    shares_.push_back(share);
    return GuestDir(shares_.size() - 1);
  }

  void Finish(VmBundle& out) {
    for (size_t i = 0; i < shares_.size(); ++i) {
      out.guest.shares.push_back({tag_of_(static_cast<int>(i)), shares_[i].read_only});
    }
    out.shares = std::move(shares_);
  }

 private:
  std::string GuestDir(size_t i) const {
    return std::string(agent::kBundleShareDir) + "/" + tag_of_(static_cast<int>(i));
  }
  const std::function<std::string(int)>& tag_of_;
  size_t max_;
  std::vector<devices::virtio::fs::ShareConfig> shares_;
};

// `path` made absolute against the bundle, with no "." or ".." components left to mislead the
// share's bookkeeping (the host resolves symlinks when it opens the share).
Result<std::string> HostPath(const std::string& bundle_dir, const std::string& path,
                             const std::string& what) {
  if (path.empty()) return Err(what + " is empty");
  if (path.find('\0') != std::string::npos) return Err(what + " has a NUL byte");
  std::string out =
      std::filesystem::path(path[0] == '/' ? path : bundle_dir + "/" + path).lexically_normal();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool IsBind(const json& mount) {
  auto type = mount.find("type");
  if (type != mount.end() && type->is_string() && *type == "bind") return true;
  auto options = mount.find("options");
  if (options == mount.end() || !options->is_array()) return false;
  return std::any_of(options->begin(), options->end(),
                     [](const json& o) { return o.is_string() && (o == "bind" || o == "rbind"); });
}

bool HasOption(const json& mount, const char* option) {
  auto options = mount.find("options");
  if (options == mount.end() || !options->is_array()) return false;
  return std::any_of(options->begin(), options->end(),
                     [&](const json& o) { return o.is_string() && o == option; });
}

Result<void> RewriteMounts(json& config, const std::string& bundle_dir,
                           const std::function<PathKind(const std::string&)>& kind_of,
                           const std::string& files_dir, ShareList& shares,
                           std::vector<FileBind>& file_binds) {
  auto mounts = config.find("mounts");
  if (mounts == config.end() || mounts->is_null()) return {};
  if (!mounts->is_array()) return Err("config.json: mounts must be an array");
  for (json& mount : *mounts) {
    if (!mount.is_object()) return Err("config.json: a mount must be an object");
    if (!IsBind(mount)) continue;
    UVM_TRY(std::string destination, ReqString(mount, "destination", "config.json mount"));
    UVM_TRY(std::string source,
            ReqString(mount, "source", "config.json mount " + Quoted(destination)));
    UVM_TRY(std::string host, HostPath(bundle_dir, source, "bind source " + Quoted(source)));
    const bool read_only = HasOption(mount, "ro");
    switch (kind_of(host)) {
      case PathKind::kDirectory: {
        UVM_TRY(mount["source"], shares.Add(host, read_only));
        break;
      }
      case PathKind::kFile: {
        // Its own numbered directory keeps its name (crun's error messages, the file's name in
        // /proc/mounts) and never collides with another file of the same name.
        const std::string kind = read_only ? "/ro" : "/rw";
        const std::string place =
            "/" + std::to_string(file_binds.size()) + host.substr(host.rfind('/'));
        UVM_TRY(std::string guest_dir, shares.Add(files_dir + kind, read_only));
        mount["source"] = guest_dir + place;
        file_binds.push_back({host, files_dir + kind + place});
        break;
      }
      case PathKind::kMissing:
        return Err("bind mount source " + Quoted(host) + " does not exist");
      case PathKind::kOther:
        return Err("bind mount source " + Quoted(host) + " for " + Quoted(destination) +
                   " is a device, socket or pipe: it cannot reach a VM (use process isolation)");
    }
  }
  return {};
}

Result<void> RewriteNamespaces(json& linux, VmBundle& out) {
  auto namespaces = linux.find("namespaces");
  if (namespaces == linux.end() || namespaces->is_null()) return {};
  if (!namespaces->is_array()) return Err("config.json: linux.namespaces must be an array");
  for (json& ns : *namespaces) {
    if (!ns.is_object()) return Err("config.json: a namespace must be an object");
    UVM_TRY(std::string type, ReqString(ns, "type", "config.json namespace"));
    UVM_TRY(std::optional<std::string> path, OptString(ns, "path", "config.json namespace"));
    if (!path || path->empty()) continue;
    if (type == "network") {
      out.warnings.push_back("the network namespace " + Quoted(*path) +
                             " is the host's: the container has loopback only in its VM");
      ns.erase("path");
      continue;
    }
    return Err("joining the " + Quoted(type) + " namespace at " + Quoted(*path) +
               " is not possible from a VM (use process isolation)");
  }
  return {};
}

// The number of CPUs a cpuset list names ("0-3,6"); 0 when it does not parse.
int CountCpus(const std::string& list) {
  int count = 0;
  size_t at = 0;
  while (at < list.size()) {
    size_t comma = list.find(',', at);
    if (comma == std::string::npos) comma = list.size();
    const std::string range = list.substr(at, comma - at);
    const size_t dash = range.find('-');
    auto number = [](const std::string& w) -> long {
      if (w.empty() || w.size() > 4 || !std::all_of(w.begin(), w.end(), ::isdigit)) return -1;
      return std::stol(w);
    };
    const long first = number(range.substr(0, dash));
    const long last = dash == std::string::npos ? first : number(range.substr(dash + 1));
    if (first < 0 || last < first) return 0;
    count += static_cast<int>(last - first + 1);
    if (count > 4096) return 0;
    at = comma + 1;
  }
  return count;
}

Result<void> SizeVm(const json& config, VmBundle& out) {
  auto linux = config.find("linux");
  if (linux == config.end() || !linux->is_object()) return {};
  UVM_TRY(json resources, OptObject(*linux, "resources", "config.json linux"));
  UVM_TRY(json memory, OptObject(resources, "memory", "config.json linux.resources"));
  UVM_TRY(std::optional<int64_t> limit, OptInt(memory, "limit", "config.json memory"));
  if (limit && *limit > 0) {
    const uint64_t want = static_cast<uint64_t>(*limit) / (1 << 20) + kVmOverheadMib;
    uint64_t mib = kVmMinMemoryMib;
    while (mib < want && mib < kVmMaxMemoryMib) mib *= 2;
    out.memory_mib = mib;
  }
  UVM_TRY(json cpu, OptObject(resources, "cpu", "config.json linux.resources"));
  UVM_TRY(std::optional<int64_t> quota, OptInt(cpu, "quota", "config.json cpu"));
  UVM_TRY(std::optional<int64_t> period, OptInt(cpu, "period", "config.json cpu"));
  UVM_TRY(std::optional<std::string> cpus, OptString(cpu, "cpus", "config.json cpu"));
  int64_t count = 0;
  if (quota && *quota > 0) {
    const int64_t p = period && *period > 0 ? *period : 100000;
    count = *quota / p + (*quota % p != 0 ? 1 : 0);
  } else if (cpus && !cpus->empty()) {
    count = CountCpus(*cpus);
  }
  if (count > 0) out.cpus = static_cast<int>(std::min<int64_t>(count, kVmMaxCpus));
  return {};
}

}  // namespace

PathKind KindOfPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return PathKind::kMissing;
  if (S_ISDIR(st.st_mode)) return PathKind::kDirectory;
  if (S_ISREG(st.st_mode)) return PathKind::kFile;
  return PathKind::kOther;
}

Result<VmBundle> PlanVmBundle(std::string_view config_json, const std::string& bundle_dir,
                              const std::function<std::string(int)>& tag_of, size_t max_shares,
                              const std::string& files_dir,
                              const std::function<PathKind(const std::string&)>& kind_of) {
  if (config_json.size() > kMaxConfigBytes) return Err("config.json is too big");
  UVM_TRY(json config, ParseJsonObject(config_json, "config.json"));
  VmBundle out;
  UVM_TRY(json annotations, OptObject(config, "annotations", "config.json"));
  for (const auto& [key, value] : annotations.items()) {
    if (!value.is_string())
      return Err("config.json: annotation " + Quoted(key) + " is not a string");
    out.annotations[key] = value.get<std::string>();
  }
  // The hooks run on the host (hooks.h); crun in the VM never sees them.
  if (auto hooks = config.find("hooks"); hooks != config.end()) {
    UVM_TRY(out.hooks, ParseHooks(*hooks));
    config.erase("hooks");
  }
  UVM_TRY(json process, OptObject(config, "process", "config.json"));
  auto terminal = process.find("terminal");
  if (terminal != process.end() && !terminal->is_null()) {
    if (!terminal->is_boolean()) return Err("config.json: process.terminal must be true or false");
    out.terminal = terminal->get<bool>();
  }
  if (out.terminal) {
    // The agent gives crun's process a terminal of the VM's (its stdio and controlling
    // terminal); the host's terminal is the keeper's, relayed to it.
    config["process"]["terminal"] = false;
  }

  UVM_CHECK(SizeVm(config, out));

  ShareList shares(tag_of, max_shares);
  UVM_TRY(json root, OptObject(config, "root", "config.json"));
  UVM_TRY(std::string root_path, ReqString(root, "path", "config.json root"));
  UVM_TRY(std::string host_root, HostPath(bundle_dir, root_path, "root.path"));
  if (kind_of(host_root) != PathKind::kDirectory) {
    return Err("the container's root " + Quoted(host_root) + " is not a directory");
  }
  UVM_TRY(config["root"]["path"], shares.Add(host_root, false));
  UVM_CHECK(RewriteMounts(config, bundle_dir, kind_of, files_dir, shares, out.file_binds));

  auto linux = config.find("linux");
  if (linux != config.end() && !linux->is_null()) {
    if (!linux->is_object()) return Err("config.json: linux must be an object");
    UVM_CHECK(RewriteNamespaces(*linux, out));
    linux->erase("cgroupsPath");
  }
  shares.Finish(out);
  out.guest.name = kVmContainerName;
  out.guest.config = config.dump();
  if (out.guest.config.size() > agent::kMaxBundleConfigBytes) {
    return Err("config.json is too big for the VM (" + std::to_string(out.guest.config.size()) +
               " bytes; at most " + std::to_string(agent::kMaxBundleConfigBytes) + ")");
  }
  return out;
}

}  // namespace uvm::oci
