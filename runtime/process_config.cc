#include "runtime/process_config.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "store/image_config.h"

namespace uvm::runtime {
namespace {

using nlohmann::json;

// docker's default capability set.
const std::vector<std::string> kCapabilities = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE"};

json Mount(const std::string& destination, const std::string& type, const std::string& source,
           const std::vector<std::string>& options) {
  return {{"destination", destination}, {"type", type}, {"source", source}, {"options", options}};
}

}  // namespace

std::string ProcessConfigJson(const ProcessBundleSpec& spec) {
  const agent::ExecRequest& exec = spec.exec;
  // What the agent gives a process in a VM when the image says nothing: a PATH (runc looks the
  // command up with it) and, with a terminal, TERM (docker's).
  std::vector<std::string> env = exec.env;
  auto has = [&](const std::string& prefix) {
    return std::any_of(env.begin(), env.end(),
                       [&](const std::string& kv) { return kv.rfind(prefix, 0) == 0; });
  };
  if (!has("PATH=")) env.push_back(store::kDefaultPath);
  if (exec.tty && !has("TERM=")) env.push_back("TERM=xterm");
  json process = {
      {"terminal", exec.tty},
      {"user", {{"uid", spec.uid}, {"gid", spec.gid}}},
      {"args", exec.argv},
      {"env", env},
      {"cwd", exec.cwd.empty() ? "/" : exec.cwd},
      {"capabilities",
       {{"bounding", kCapabilities}, {"effective", kCapabilities}, {"permitted", kCapabilities}}},
      {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1048576}, {"soft", 1048576}}})},
      {"noNewPrivileges", false}};
  if (exec.tty && exec.rows > 0) {
    process["consoleSize"] = {{"height", exec.rows}, {"width", exec.cols}};
  }
  json mounts = json::array({
      Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      Mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      Mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      Mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      Mount("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}),
  });
  for (const VolumeSpec& v : spec.volumes) {
    mounts.push_back(
        Mount(v.target, "bind", v.host_dir, {"rbind", "rprivate", v.read_only ? "ro" : "rw"}));
  }
  json namespaces = json::array({{{"type", "pid"}}});
  if (spec.own_network) namespaces.push_back({{"type", "network"}});
  for (const char* type : {"ipc", "uts", "mount", "cgroup"}) namespaces.push_back({{"type", type}});
  json linux = {{"namespaces", namespaces},
                {"maskedPaths",
                 {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                  "/proc/scsi"}},
                {"readonlyPaths",
                 {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}};
  json resources = json::object();
  if (spec.limits.memory_mib) resources["memory"]["limit"] = *spec.limits.memory_mib << 20;
  if (spec.limits.cpus) {
    resources["cpu"] = {{"quota", int64_t{*spec.limits.cpus} * 100000}, {"period", 100000}};
  }
  if (!resources.empty()) linux["resources"] = resources;
  json config = {{"ociVersion", "1.0.2"},
                 {"process", process},
                 {"root", {{"path", spec.rootfs}, {"readonly", false}}},
                 {"hostname", exec.hostname},
                 {"mounts", mounts},
                 {"linux", linux}};
  return config.dump(2);
}

std::string VmRunConfigJson(const agent::ExecRequest& exec) {
  // root.path "/": the agent's mount takes its place.
  return ProcessConfigJson(ProcessBundleSpec{exec, 0, 0, std::string(1, '/'), {}, {}, false});
}

}  // namespace uvm::runtime
