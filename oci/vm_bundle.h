// A bundle's config.json made fit for a utility VM: what the host must share with the VM and the
// config crun runs inside it. Only the host-specific parts change, as Windows' host rewrites a
// bundle for runc in its Linux utility VM:
//   - root.path (relative to the bundle, or absolute) becomes share 0;
//   - each bind mount's source becomes a path in a share: a directory is a share of its own (the
//     same directory is shared once); a file (podman's /etc/hosts, /etc/resolv.conf, ...) is
//     bind-mounted on the host into a directory of the container's own, `files_dir`/rw or /ro,
//     shared instead of the file's directory, so the VM (whose kernel is not trusted) reaches
//     that file and nothing beside it (`FileBind`; vm_layout.h makes and undoes those binds).
//     Sockets and device nodes cannot cross into a VM and are refused;
//   - a network namespace path (an engine's network) is dropped: the container gets a network
//     namespace of its own with loopback only, and a warning says so;
//   - linux.cgroupsPath is dropped (the VM is the container's cgroup);
//   - hooks are taken out: they run on the host (hooks.h);
//   - process.terminal becomes false here and `terminal` says it was asked for: the keeper asks
//     the agent for a terminal (ExecRequest.tty), and the agent has crun make it in the VM
//     (guest-agent/oci_bundle.h), relayed to the one the engine gets on its console socket.
// Everything else travels unchanged and crun applies it in the VM. What cannot hold in a VM yet is
// refused with one line naming it: joining another namespace by path, hooks that run in the
// container's namespaces.
// The config is the engine's and untrusted: typed checks, the size cap of bundle_isolation.h.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "devices/virtio/fs/share_spec.h"
#include "guest-agent/protocol/messages.h"
#include "oci/hooks.h"

namespace uvm::oci {

// The VM is sized by the container's resources, in few enough shapes that templates are reused:
// memory.limit plus room for the guest kernel and agent, rounded up to a power of two from
// kVmMinMemoryMib (no limit: the minimum), at most kVmMaxMemoryMib; vCPUs from cpu.quota/period
// rounded up, else the number of CPUs in cpu.cpus, else 1, at most kVmMaxCpus.
inline constexpr uint64_t kVmMinMemoryMib = 256;
inline constexpr uint64_t kVmMaxMemoryMib = 65536;
inline constexpr uint64_t kVmOverheadMib = 64;
inline constexpr int kVmMaxCpus = 16;

// The container's name for crun inside its VM (a VM holds one container).
inline constexpr char kVmContainerName[] = "uvm";

// A bind-mounted file's place in the container's own files directory: the runtime bind-mounts
// `host_file` on `target` (an empty file it makes there) before the VM starts.
struct FileBind {
  std::string host_file;
  std::string target;
};

struct VmBundle {
  // The host directories the VM gets as virtio-fs devices, in device order (tags ShareTag(i)).
  std::vector<devices::virtio::fs::ShareConfig> shares;
  agent::OciBundle guest;                          // for the agent: the shares' tags, the config
  std::map<std::string, std::string> annotations;  // config.json's, for `state`
  std::vector<std::string> warnings;               // one line each, for the log
  bool terminal = false;                           // the config asked for a terminal
  Hooks hooks;                                     // run on the host
  std::vector<FileBind> file_binds;                // files reached through files_dir
  // The VM's size from linux.resources (VmSizeOf).
  uint64_t memory_mib = kVmMinMemoryMib;
  int cpus = 1;
};

// How a path on the host is: what a bind mount's source may be.
enum class PathKind { kMissing, kDirectory, kFile, kOther };
PathKind KindOfPath(const std::string& path);

// `tag_of(i)` names share i (runtime::ShareTag); `max_shares` is how many a VM can have;
// `files_dir` is the container's own directory for its bind-mounted files (see above).
Result<VmBundle> PlanVmBundle(
    std::string_view config_json, const std::string& bundle_dir,
    const std::function<std::string(int)>& tag_of, size_t max_shares, const std::string& files_dir,
    const std::function<PathKind(const std::string&)>& kind_of = KindOfPath);

}  // namespace uvm::oci
