// The client side of the VM pool (runtime/pool/server.h): `uvm run` borrows a ready clone, `uvm
// pool status|stop` ask the pool about itself.
#pragma once

#include <optional>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "runtime/pool/protocol.h"
#include "runtime/template_store.h"

namespace uvm::runtime {

// A VM the pool lent: its agent answers on vsock_uds(). The pool stops the VM when the lease
// ends (this object goes, or the process dies).
class PoolLease {
 public:
  const std::string& vm() const { return vm_; }
  const std::string& vsock_uds() const { return vsock_uds_; }

 private:
  friend Result<PoolLease> ClaimPooledVm(const std::string&, const TemplateShape&,
                                         const std::string&,
                                         const std::vector<devices::virtio::fs::ShareConfig>&);
  UniqueFd conn_;
  std::string vm_;
  std::string vsock_uds_;
};

// A clone of the template `key` (TemplateKey(shape)) from the pool serving `root`, its share
// devices bound to `shares` (one per shape.shares). Fails, saying why, when no pool runs there
// or it has no such VM ready: the caller then clones by itself.
Result<PoolLease> ClaimPooledVm(const std::string& root, const TemplateShape& shape,
                                const std::string& key,
                                const std::vector<devices::virtio::fs::ShareConfig>& shares = {});

// The pool's state; fails when no pool runs for `root`.
Result<PoolStatus> QueryPool(const std::string& root);
// Asks the pool to stop; returns its state as it began to.
Result<PoolStatus> StopPool(const std::string& root);

}  // namespace uvm::runtime
