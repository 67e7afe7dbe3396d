#include "runtime/exec_spec.h"

#include "runtime/template_shape.h"

namespace uvm::runtime {
namespace {

std::vector<std::string> ContainerArgv(const store::ImageConfig& config,
                                       const std::vector<std::string>& command) {
  std::vector<std::string> argv = config.entrypoint;
  const auto& rest = command.empty() ? config.cmd : command;
  argv.insert(argv.end(), rest.begin(), rest.end());
  return argv;
}

std::vector<std::string> ContainerEnv(const store::ImageConfig& config,
                                      const std::vector<std::string>& flags,
                                      const HostEnv& host_env) {
  std::vector<std::string> env = config.env;
  auto set = [&](const std::string& kv) {
    const std::string key = kv.substr(0, kv.find('='));
    for (auto& e : env) {
      if (e.substr(0, e.find('=')) == key) {
        e = kv;
        return;
      }
    }
    env.push_back(kv);
  };
  for (const auto& f : flags) {
    if (f.find('=') != std::string::npos) {
      set(f);
    } else if (auto v = host_env(f)) {
      set(f + "=" + *v);
    }
  }
  return env;
}

}  // namespace

agent::Rootfs ContainerRootfs() { return agent::Rootfs{"/dev/vda", "ext4", 256, {}}; }

std::vector<devices::virtio::fs::ShareConfig> ShareConfigs(const ContainerShares& shares) {
  std::vector<devices::virtio::fs::ShareConfig> out;
  if (!shares.rootfs_dir.empty()) out.push_back({.host_dir = shares.rootfs_dir});
  for (const VolumeSpec& v : shares.volumes) {
    out.push_back({.host_dir = v.host_dir, .read_only = v.read_only});
  }
  return out;
}

void UseShares(const ContainerShares& shares, agent::ExecRequest& exec) {
  int next = 0;
  if (!shares.rootfs_dir.empty()) {
    exec.rootfs = agent::Rootfs{ShareTag(next++), "virtiofs", 256, {}};
  }
  if (!exec.rootfs) exec.rootfs = ContainerRootfs();
  for (const VolumeSpec& v : shares.volumes) {
    exec.rootfs->volumes.push_back({ShareTag(next++), v.target, v.read_only});
  }
}

Result<agent::ExecRequest> MakeExecRequest(const std::string& image,
                                           const store::ImageConfig& config, const ExecOverrides& o,
                                           const HostEnv& host_env) {
  agent::ExecRequest exec;
  exec.argv = ContainerArgv(config, o.command);
  if (exec.argv.empty()) {
    return Err(ErrorCode::kInvalidArgument, "no command: give one after the image name (" + image +
                                                " has no Entrypoint or Cmd)");
  }
  exec.env = ContainerEnv(config, o.env, host_env);
  exec.cwd = !o.workdir.empty()            ? o.workdir
             : !config.working_dir.empty() ? config.working_dir
                                           : "/";
  exec.user = !o.user.empty() ? o.user : config.user;
  exec.tty = o.tty;
  if (o.tty) {
    exec.rows = o.rows;
    exec.cols = o.cols;
  }
  exec.rootfs = ContainerRootfs();
  return exec;
}

}  // namespace uvm::runtime
