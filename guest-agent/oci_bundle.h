// A bundle uvm-runtime or `uvm run` sent (protocol OciBundle) made ready for crun inside the VM:
// its shares mounted at kBundleShareDir/TAG (once per VM: a later exec finds them there), its
// config.json (with the agent's adjustments: a root it mounted, the user, a terminal crun makes
// and hands over --console-socket) written to a bundle directory of its own, and the `crun run`
// command line that starts it. crun
// is the VM's OCI runtime, as runc is the one in Windows' Linux utility VMs: every part of the
// config (mounts, capabilities, seccomp, rlimits, ...) holds exactly as under crun on a host.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "guest-agent/protocol/messages.h"
#include "guest-agent/user_spec.h"

namespace uvm::agent {

inline constexpr char kCrunPath[] = "/usr/bin/crun";
inline constexpr char kCrunStateRoot[] = "/run/crun";

// What the agent changes in a bundle's config (or an exec's process) before crun gets it.
struct BundleAdjust {
  // `uvm run`: the root the agent mounted (the image's overlay, or a --rootfs share) as root.path,
  // read-write, and the request's user as resolved in that root as process.user.
  std::optional<std::string> root;
  std::optional<Credentials> user;
  // A terminal of the given size (rows, cols): crun makes it in the container's own devpts (so
  // the process's ttyname() names it) and hands its master over --console-socket.
  std::optional<std::pair<uint16_t, uint16_t>> terminal;
};

// The config (or, with `exec`, the process) JSON with `adjust` applied; an error if it is not a
// JSON object (or its process is not one).
Result<std::string> AdjustBundleJson(const std::string& json, bool exec,
                                     const BundleAdjust& adjust);

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
                                   std::chrono::milliseconds wait = std::chrono::seconds(10),
                                   const BundleAdjust& adjust = {});

  BundleRun(BundleRun&& o) noexcept;
  BundleRun& operator=(BundleRun&&) = delete;
  ~BundleRun();  // removes the bundle directory; the shares stay mounted for the VM's life

  // `crun run` (or `crun exec`), in the foreground: its exit status is the process's, and the
  // signals the agent sends it are passed on to the process.
  std::vector<std::string> Argv() const;
  // With a terminal: where crun hands over its master (in the bundle directory; the caller
  // listens there before crun starts). Empty without one.
  const std::string& console_socket() const { return console_socket_; }
  const std::string& name() const { return name_; }
  bool is_exec() const { return exec_; }

 private:
  BundleRun() = default;
  std::string dir_, name_, file_, console_socket_;
  bool exec_ = false;
};

// The host-visible pid of container `name`'s init, from crun's state under `crun_root`
// (`status`, a JSON object with its `pid`); nothing while crun has not written it.
std::optional<pid_t> CrunInitPid(const std::string& crun_root, const std::string& name);

// A name the host gives: 1-64 of letters, digits, `_`, `.`, `-`, not starting with `-`.
bool ValidBundleName(const std::string& name);

}  // namespace uvm::agent
