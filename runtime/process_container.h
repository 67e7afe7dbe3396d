// `uvm run --isolation process`: the container as host processes under the host's runc, with
// the same image, command, stdio and exit status as in a VM. The image's ext4 disk is mounted
// read-only (a loop device) under an overlay whose upper layer is the run's own, so the run's
// writes go with it, as in a VM; `--rootfs DIR` is the root itself, read-write. The bundle and
// runc's state are under ROOT/process; everything the run mounted or wrote there goes when it
// ends.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "guest-agent/protocol/messages.h"
#include "runtime/process_config.h"
#include "runtime/volume_spec.h"

namespace uvm::runtime {

struct ProcessRunSpec {
  std::string state_root;   // uvm's --root
  std::string image_disk;   // the image's ext4 (the overlay's lower layer), or
  std::string rootfs_dir;   // --rootfs DIR: the root, read-write
  agent::ExecRequest exec;  // as MakeExecRequest makes it; the user is resolved in the root
  std::vector<VolumeSpec> volumes;
  ProcessLimits limits;
  bool interactive = false;  // stdin passes on (else the process reads end of file)
  std::string runc;          // the OCI runtime's path
};

// The container's exit status (128+N after signal N, runc's); an error for uvm's own failures.
// SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 go to the container's process; a second
// SIGINT/SIGTERM/SIGHUP kills it (docker's rule, as in a VM). The caller has blocked none of
// them in other threads.
Result<int> RunProcessContainer(const ProcessRunSpec& spec);

}  // namespace uvm::runtime
