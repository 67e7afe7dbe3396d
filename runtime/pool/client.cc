#include "runtime/pool/client.h"

#include <sys/socket.h>
#include <sys/un.h>

#include "base/unix_socket.h"
#include "runtime/pool/server.h"

namespace uvm::runtime {
namespace {

constexpr int kReplyTimeoutMs = 5000;

Result<UniqueFd> ConnectPool(const std::string& root) {
  auto fd = ConnectUnix(PoolSocketPath(root));
  if (!fd && fd.error().code == ErrorCode::kNotFound) {
    return Err(ErrorCode::kNotFound,
               "no pool is running for " + root + " (`uvm pool start` starts one)");
  }
  return Context(std::move(fd), "the pool");
}

Result<std::string> Ask(int fd, const PoolRequest& request) {
  UVM_CHECK(WritePoolLine(fd, EncodePoolRequest(request)));
  return ReadPoolLine(fd, kReplyTimeoutMs);
}

}  // namespace

Result<PoolLease> ClaimPooledVm(const std::string& root, const TemplateShape& shape,
                                const std::string& key,
                                const std::vector<devices::virtio::fs::ShareConfig>& shares) {
  UVM_TRY(UniqueFd fd, ConnectPool(root));
  PoolRequest request;
  request.op = PoolOp::kClaim;
  request.key = key;
  request.shape = shape;
  request.shares = shares;
  UVM_TRY(std::string line, Ask(fd.get(), request));
  UVM_TRY(PoolClaimReply reply, ParseClaimReply(line));
  if (!reply.ok) return Err(ErrorCode::kUnavailable, "the pool: " + reply.why);
  PoolLease lease;
  lease.conn_ = std::move(fd);
  lease.vm_ = reply.vm;
  lease.vsock_uds_ = reply.vsock_uds;
  return lease;
}

Result<PoolStatus> QueryPool(const std::string& root) {
  UVM_TRY(UniqueFd fd, ConnectPool(root));
  UVM_TRY(std::string line, Ask(fd.get(), PoolRequest{PoolOp::kStatus, {}, {}, {}}));
  return ParsePoolStatus(line);
}

Result<PoolStatus> StopPool(const std::string& root) {
  UVM_TRY(UniqueFd fd, ConnectPool(root));
  UVM_TRY(std::string line, Ask(fd.get(), PoolRequest{PoolOp::kStop, {}, {}, {}}));
  return ParsePoolStatus(line);
}

}  // namespace uvm::runtime
