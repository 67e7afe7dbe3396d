// A bundle uvm-runtime sent (protocol OciBundle) made ready for crun inside the VM: its shares
// mounted at kBundleShareDir/TAG (once per VM: a later exec finds them there), its config.json
// written to a bundle directory of its own, and the `crun run` command line that starts it. crun
// is the VM's OCI runtime, as runc is the one in Windows' Linux utility VMs: every part of the
// config (mounts, capabilities, seccomp, rlimits, ...) holds exactly as under crun on a host.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "guest-agent/protocol/messages.h"

namespace uvm::agent {

inline constexpr char kCrunPath[] = "/usr/bin/crun";

class BundleRun {
 public:
  // Mounts the shares, writes `dir`/config.json (dir is made) and names the container `name`.
  // `share_dir` is kBundleShareDir in the VM (tests pass their own and mount nothing then: see
  // `mount_shares`).
  static Result<BundleRun> Prepare(const OciBundle& bundle, const std::string& dir,
                                   const std::string& name, const std::string& share_dir,
                                   bool mount_shares);

  BundleRun(BundleRun&& o) noexcept;
  BundleRun& operator=(BundleRun&&) = delete;
  ~BundleRun();  // removes the bundle directory; the shares stay mounted for the VM's life

  // `crun run`, in the foreground: its exit status is the container's, and the signals the agent
  // sends it are passed on to the container's process.
  std::vector<std::string> Argv() const;

 private:
  BundleRun() = default;
  std::string dir_, name_;
};

}  // namespace uvm::agent
