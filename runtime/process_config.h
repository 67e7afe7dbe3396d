// The config.json of `uvm run --isolation process`: the container uvm would start in a VM, as an
// OCI bundle the host's runc runs instead. Built from the same exec request the agent gets (so
// docker's rules for Cmd, Entrypoint, Env, WorkingDir and User are the same code), with runc's
// own `runc spec` defaults for the rest: the namespaces (network included: loopback only, as
// `--net none` in a VM), the standard mounts, masked and read-only paths, docker's default
// capabilities.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "guest-agent/protocol/messages.h"
#include "runtime/volume_spec.h"

namespace uvm::runtime {

struct ProcessLimits {
  std::optional<uint64_t> memory_mib;  // --memory, when given
  std::optional<int> cpus;             // --cpus, when given
};

struct ProcessBundleSpec {
  agent::ExecRequest exec;    // argv, env, cwd, tty, hostname
  uint32_t uid = 0, gid = 0;  // the exec's user, resolved in the root's /etc/passwd
  std::string rootfs;         // absolute
  std::vector<VolumeSpec> volumes;
  ProcessLimits limits;
  bool own_network = true;  // a network namespace of its own (loopback only)
};

// The config.json text.
std::string ProcessConfigJson(const ProcessBundleSpec& spec);

// The config crun gets for `uvm run` in a VM: the same container as under process isolation,
// but in the VM's network (no network namespace: the VM's eth0 with --net tap, else loopback),
// with the root, the user and the volumes left to the agent, which mounts the image (or the
// --rootfs share) and the volumes and fills in root.path and process.user
// (guest-agent/oci_bundle.h), and without limits: the VM's size is the container's.
std::string VmRunConfigJson(const agent::ExecRequest& exec);

}  // namespace uvm::runtime
