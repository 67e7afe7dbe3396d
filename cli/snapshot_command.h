// `uvm snapshot save|restore`: save a running `uvm boot --api-sock` VM to a directory (`state`
// and `memory`, vmm/snapshot/snapshot.h) and start a VM from one, resuming the guest where it was.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace uvm::cli {

struct SnapshotSaveOptions {
  std::string api_sock;  // the VM's control socket (uvm boot --api-sock)
  std::string dir;       // where the snapshot goes (created if missing)
};

// Asks the VM to save itself to `dir` and waits until it did; 0, or an error with the VM's reason.
Result<int> RunSnapshotSave(const SnapshotSaveOptions& options);

struct SnapshotRestoreOptions {
  std::string dir;
  uint64_t memory_mib = 0;  // 0: what the snapshot was saved with
  int cpus = 0;             // 0: what the snapshot was saved with
  std::vector<std::string> disks;
  std::string net_tap;
  std::string vsock_uds;
  std::string api_sock;
};

// Like uvm boot with the snapshot in place of a kernel: the same exit statuses.
Result<int> RunSnapshotRestore(const SnapshotRestoreOptions& options);

}  // namespace uvm::cli
