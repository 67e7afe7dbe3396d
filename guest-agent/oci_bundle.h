// A bundle uvm-runtime sent (protocol OciBundle) made ready for crun inside the VM: its shares
// mounted at kBundleShareDir/TAG (once per VM: a later exec finds them there), its config.json
// written to a bundle directory of its own, and the `crun run` command line that starts it. crun
// is the VM's OCI runtime, as runc is the one in Windows' Linux utility VMs: every part of the
// config (mounts, capabilities, seccomp, rlimits, ...) holds exactly as under crun on a host.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/result.h"
#include "guest-agent/protocol/messages.h"

namespace uvm::agent {

inline constexpr char kCrunPath[] = "/usr/bin/crun";
inline constexpr char kCrunStateRoot[] = "/run/crun";

class BundleRun {
 public:
  // Mounts the shares and writes `dir`/config.json (dir is made), or for an exec
  // `dir`/process.json. `share_dir` is kBundleShareDir in the VM (tests pass their own and mount
  // nothing then: see `mount_shares`). An exec first waits (up to `wait`) for crun's state of the
  // container under `crun_root` (kCrunStateRoot in the VM): the host hears the container started
  // once `crun run` does, which may be a moment before crun has written it.
  static Result<BundleRun> Prepare(const OciBundle& bundle, const std::string& dir,
                                   const std::string& share_dir, bool mount_shares,
                                   const std::string& crun_root = kCrunStateRoot,
                                   std::chrono::milliseconds wait = std::chrono::seconds(10));

  BundleRun(BundleRun&& o) noexcept;
  BundleRun& operator=(BundleRun&&) = delete;
  ~BundleRun();  // removes the bundle directory; the shares stay mounted for the VM's life

  // `crun run` (or `crun exec`), in the foreground: its exit status is the process's, and the
  // signals the agent sends it are passed on to the process.
  std::vector<std::string> Argv() const;

 private:
  BundleRun() = default;
  std::string dir_, name_, file_;
  bool exec_ = false;
};

// A name the host gives: 1-64 of letters, digits, `_`, `.`, `-`, not starting with `-`.
bool ValidBundleName(const std::string& name);

}  // namespace uvm::agent
