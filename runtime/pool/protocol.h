// The VM pool's socket protocol (`uvm pool`, runtime/pool/server.h): a client connects to the
// pool's unix socket, sends one request as one line of JSON, and reads one line back. A granted
// claim's connection then stays open: it is the lease, and the pool stops that VM when it closes.
//
//   {"op":"claim","key":"<16 hex>","shape":{...},   -> {"ok":true,"vm":"<id>","vsock_uds":"..."}
//    "shares":[{"host_dir":"/..","read_only":b}]}
//                                                  or {"ok":false,"why":"..."}
//   {"op":"status"}                                -> {"ok":true,"pid":N,"size":N,"shapes":[...]}
//   {"op":"stop"}                                  -> the status, as the pool begins to stop
//
// Only root can reach the socket (/run/uvm, mode 0600), but requests are still checked field by
// field: a malformed one gets {"ok":false,"why":...} and the pool carries on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "devices/virtio/fs/share_spec.h"
#include "runtime/template_store.h"

namespace uvm::runtime {

enum class PoolOp { kClaim, kStatus, kStop };

struct PoolRequest {
  PoolOp op = PoolOp::kStatus;
  std::string key;      // kClaim: TemplateKey(shape), which the pool checks again
  TemplateShape shape;  // kClaim: the template the VM must be a clone of
  // kClaim: the directories the VM's shape.shares devices are bound to before it is lent (as
  // many as the shape has; absolute paths).
  std::vector<devices::virtio::fs::ShareConfig> shares;
};

struct PoolClaimReply {
  bool ok = false;
  std::string why;        // !ok: why there is no VM (none ready yet, a stale template, ...)
  std::string vm;         // ok: the VM's id (its runtime directory's name)
  std::string vsock_uds;  // ok: the VM's vsock socket, where its agent answers
};

struct PoolShapeStatus {
  std::string key;
  std::string image;  // the image the template is for ("" for none)
  uint64_t memory_mib = 0;
  int cpus = 0;
  int ready = 0;        // restored VMs whose agent has answered, waiting for a claim
  int in_use = 0;       // leased VMs
  uint64_t served = 0;  // claims granted
  uint64_t missed = 0;  // claims that found no VM ready
  std::string error;    // the last failure to make a VM of this shape ("" when none)
};

struct PoolStatus {
  int pid = 0;
  int size = 0;  // VMs kept ready per shape
  std::vector<PoolShapeStatus> shapes;
};

// One line each ("\n"-terminated).
std::string EncodePoolRequest(const PoolRequest& request);
std::string EncodeClaimReply(const PoolClaimReply& reply);
std::string EncodePoolStatus(const PoolStatus& status);
std::string EncodeFailure(const std::string& why);  // {"ok":false,"why":...}

// Each refuses what is not well-formed, with a reason.
Result<PoolRequest> ParsePoolRequest(const std::string& line);
Result<PoolClaimReply> ParseClaimReply(const std::string& line);
Result<PoolStatus> ParsePoolStatus(const std::string& line);

// The longest line either side sends or accepts.
inline constexpr size_t kMaxPoolLine = 64 * 1024;

// Reads one line from `fd` (without its "\n"), waiting at most `timeout_ms` in all. Fails on end
// of file before a newline, a line over kMaxPoolLine, or the time running out.
Result<std::string> ReadPoolLine(int fd, int timeout_ms);
// Writes all of `line` (MSG_NOSIGNAL: a peer that went away is an error, not a SIGPIPE).
Result<void> WritePoolLine(int fd, const std::string& line);

}  // namespace uvm::runtime
