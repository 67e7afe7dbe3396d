#include "guest-agent/oci_bundle.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/fs.h"
#include "guest-agent/container_root.h"
#include "guest-agent/share_readahead.h"

namespace uvm::agent {
namespace {

// Whether `path` is a mount point already: another device than its parent's.
bool IsMounted(const std::string& path) {
  struct stat here, parent;
  return stat(path.c_str(), &here) == 0 && stat((path + "/..").c_str(), &parent) == 0 &&
         here.st_dev != parent.st_dev;
}

}  // namespace

std::optional<pid_t> CrunInitPid(const std::string& crun_root, const std::string& name) {
  if (!ValidBundleName(name)) return std::nullopt;
  auto text = ReadFileLimited(crun_root + "/" + name + "/status", 1 << 16);
  if (!text) return std::nullopt;
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  if (!doc.is_object() || !doc["pid"].is_number_integer()) return std::nullopt;
  const int64_t pid = doc["pid"].get<int64_t>();
  if (pid <= 1 || pid > INT32_MAX) return std::nullopt;
  return static_cast<pid_t>(pid);
}

bool ValidBundleName(const std::string& name) {
  // Not a flag to crun either: no leading '-'.
  if (name.empty() || name.size() > 64 || name == "." || name == ".." || name[0] == '-') {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '.' || c == '-';
  });
}

Result<std::string> AdjustBundleJson(const std::string& json, bool exec,
                                     const BundleAdjust& adjust) {
  auto doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Err(std::string(exec ? "the exec's process" : "the bundle's config") +
               " is not a JSON object");
  }
  if (!exec && !doc["process"].is_object()) return Err("the bundle's config has no process");
  nlohmann::json& process = exec ? doc : doc["process"];
  if (adjust.root && !exec) {
    doc["root"] = {{"path", *adjust.root}, {"readonly", false}};
  }
  if (adjust.user) {
    process["user"] = {{"uid", adjust.user->uid}, {"gid", adjust.user->gid}};
  }
  if (adjust.terminal) {
    process["terminal"] = true;
    process["consoleSize"] = {{"height", adjust.terminal->first},
                              {"width", adjust.terminal->second}};
  }
  return doc.dump();
}

Result<BundleRun> BundleRun::Prepare(const OciBundle& bundle, const std::string& dir,
                                     const std::string& share_dir, bool mount_shares,
                                     const std::string& crun_root, std::chrono::milliseconds wait,
                                     const BundleAdjust& adjust) {
  if (!ValidBundleName(bundle.name)) return Err("bundle name '" + bundle.name + "' is not valid");
  const bool exec = !bundle.process.empty();
  if (!exec && bundle.config.empty()) return Err("the bundle has no config");
  if (exec) {
    const std::string status = crun_root + "/" + bundle.name + "/status";
    const auto deadline = std::chrono::steady_clock::now() + wait;
    struct stat st;
    while (stat(status.c_str(), &st) != 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return Err("the container '" + bundle.name + "' is not running in this VM");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  for (const BundleShare& share : bundle.shares) {
    if (!IsShareTag(share.tag)) return Err("bundle share tag '" + share.tag + "' is not a tag");
  }
  if (mount_shares) {
    for (const BundleShare& share : bundle.shares) {
      const std::string at = share_dir + "/" + share.tag;
      if (IsMounted(at)) continue;
      UVM_CHECK(MakeDirs(at));
      if (mount(share.tag.c_str(), at.c_str(), kVirtiofs, share.read_only ? MS_RDONLY : 0,
                nullptr) < 0) {
        return ErrnoErr("mounting share " + share.tag);
      }
      SetShareReadahead(at.c_str());
    }
  }
  BundleRun run;
  UVM_CHECK(MakeDirs(dir));
  run.dir_ = dir;
  run.name_ = bundle.name;
  run.exec_ = exec;
  run.file_ = dir + (exec ? "/process.json" : "/config.json");
  const std::string& text = exec ? bundle.process : bundle.config;
  if (adjust.root || adjust.user || adjust.terminal) {
    UVM_TRY(std::string adjusted, AdjustBundleJson(text, exec, adjust));
    UVM_CHECK(WriteFileAtomic(run.file_, adjusted));
  } else {
    UVM_CHECK(WriteFileAtomic(run.file_, text));
  }
  if (adjust.terminal) run.console_socket_ = dir + "/console.sock";
  return run;
}

BundleRun::BundleRun(BundleRun&& o) noexcept
    : dir_(std::move(o.dir_)),
      name_(std::move(o.name_)),
      file_(std::move(o.file_)),
      console_socket_(std::move(o.console_socket_)),
      exec_(o.exec_) {
  o.dir_.clear();
}

BundleRun::~BundleRun() {
  if (dir_.empty()) return;
  unlink(file_.c_str());
  if (!console_socket_.empty()) unlink(console_socket_.c_str());
  rmdir(dir_.c_str());
}

std::vector<std::string> BundleRun::Argv() const {
  // crun manages the container's cgroup in the VM's cgroup2 hierarchy, as on a host: the
  // config's linux.resources hold inside the VM too.
  std::vector<std::string> argv = {kCrunPath, "--cgroup-manager=cgroupfs"};
  if (exec_) {
    argv.insert(argv.end(), {"exec", "--process", file_});
  } else {
    argv.insert(argv.end(), {"run", "--bundle", dir_});
  }
  if (!console_socket_.empty()) argv.insert(argv.end(), {"--console-socket", console_socket_});
  argv.push_back(name_);
  return argv;
}

}  // namespace uvm::agent
