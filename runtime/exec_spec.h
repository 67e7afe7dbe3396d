// What `docker run` makes of an image's config and the run's flags: the process the agent starts.
// The rules (docker's): arguments after IMAGE replace the image's Cmd while its Entrypoint stays;
// the image's Env, then each -e (K=V sets K, a bare K copies the caller's K, left out when the
// caller has none); -w over the image's WorkingDir over "/"; --user over the image's User.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "devices/virtio/fs/share_spec.h"
#include "guest-agent/protocol/messages.h"
#include "runtime/volume_spec.h"
#include "store/image_config.h"

namespace uvm::runtime {

struct ExecOverrides {
  std::vector<std::string> command;  // replaces the image's Cmd; the Entrypoint stays
  std::vector<std::string> env;      // K=V, or K to copy the caller's K
  std::string workdir;               // "" : the image's, else "/"
  std::string user;                  // "" : the image's
  bool tty = false;
  uint16_t rows = 0, cols = 0;  // the terminal's size with tty
};

// The caller's value of an environment variable (getenv for `uvm run`).
using HostEnv = std::function<std::optional<std::string>(const std::string& name)>;

// The exec request for a container of `image` (its name, for errors) with `config`: argv, env,
// cwd, user, tty, and the image's disk as the container's root filesystem. Identity (hostname,
// clock, entropy) and network are the container's and the sandbox's to add. Fails when there is
// no command at all.
Result<agent::ExecRequest> MakeExecRequest(const std::string& image,
                                           const store::ImageConfig& config,
                                           const ExecOverrides& overrides, const HostEnv& host_env);

// Where a container's image is in every utility VM: vda, ext4, under a 256 MiB overlay.
agent::Rootfs ContainerRootfs();

// The shares of a container's VM, in device order: with `rootfs_dir` (uvm run --rootfs) that
// directory first, then each volume's. At most kMaxShares.
struct ContainerShares {
  std::string rootfs_dir;
  std::vector<VolumeSpec> volumes;
  size_t count() const { return (rootfs_dir.empty() ? 0 : 1) + volumes.size(); }
};

// The host side: each share's directory, in device order.
std::vector<devices::virtio::fs::ShareConfig> ShareConfigs(const ContainerShares& shares);
// The guest side: the request's root becomes the first share (read-write, no overlay) when there
// is a rootfs directory, and each volume mounts its share at its target.
void UseShares(const ContainerShares& shares, agent::ExecRequest& exec);

}  // namespace uvm::runtime
