#include "runtime/pool/protocol.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/json.h"
#include "boot/layout.h"

namespace uvm::runtime {
namespace {

using nlohmann::json;

constexpr char kRequest[] = "pool request";
constexpr char kReply[] = "pool reply";

// A string member, "" when absent.
Result<std::string> Str(const json& j, const char* key, const char* what) {
  UVM_TRY(std::optional<std::string> s, OptString(j, key, what));
  return s.value_or("");
}

// A reply's "ok" (required): nullopt when true, else its "why" ("refused" when it gives none).
Result<std::optional<std::string>> Refusal(const json& j) {
  auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean()) return Err("the reply has no \"ok\"");
  if (ok->get<bool>()) return std::optional<std::string>();
  UVM_TRY(std::string why, Str(j, "why", kReply));
  return std::optional<std::string>(why.empty() ? "refused" : why);
}

}  // namespace

std::string EncodePoolRequest(const PoolRequest& r) {
  json j;
  switch (r.op) {
    case PoolOp::kClaim:
      j = {{"op", "claim"}, {"key", r.key}, {"shape", ShapeToJson(r.shape)}};
      if (!r.shares.empty()) {
        json shares = json::array();
        for (const auto& s : r.shares) {
          shares.push_back({{"host_dir", s.host_dir}, {"read_only", s.read_only}});
        }
        j["shares"] = std::move(shares);
      }
      break;
    case PoolOp::kStatus:
      j = {{"op", "status"}};
      break;
    case PoolOp::kStop:
      j = {{"op", "stop"}};
      break;
  }
  return j.dump() + "\n";
}

Result<PoolRequest> ParsePoolRequest(const std::string& line) {
  UVM_TRY(json j, ParseJsonObject(line, kRequest));
  UVM_TRY(std::string op, Str(j, "op", kRequest));
  PoolRequest r;
  if (op == "status") {
    r.op = PoolOp::kStatus;
  } else if (op == "stop") {
    r.op = PoolOp::kStop;
  } else if (op == "claim") {
    r.op = PoolOp::kClaim;
    UVM_TRY(r.key, Str(j, "key", kRequest));
    if (!IsTemplateKey(r.key)) return Err("\"key\" must be 16 lowercase hex digits");
    auto shape = j.find("shape");
    if (shape == j.end()) return Err("a claim needs a \"shape\"");
    UVM_TRY(r.shape, ShapeFromJson(*shape));
    auto shares = j.find("shares");
    if (shares != j.end()) {
      if (!shares->is_array()) return Err("\"shares\" must be an array");
      for (const json& s : *shares) {
        if (!s.is_object()) return Err("a share must be an object");
        devices::virtio::fs::ShareConfig share;
        UVM_TRY(share.host_dir, Str(s, "host_dir", kRequest));
        if (share.host_dir.empty() || share.host_dir[0] != '/') {
          return Err("a share's \"host_dir\" must be an absolute path");
        }
        auto ro = s.find("read_only");
        if (ro != s.end() && !ro->is_boolean()) return Err("\"read_only\" must be true or false");
        share.read_only = ro != s.end() && ro->get<bool>();
        r.shares.push_back(std::move(share));
      }
    }
    if (r.shares.size() != static_cast<size_t>(r.shape.shares)) {
      return Err("a claim names as many shares as its shape has");
    }
  } else {
    return Err("unknown \"op\" (claim, status or stop)");
  }
  return r;
}

std::string EncodeClaimReply(const PoolClaimReply& r) {
  if (!r.ok) return EncodeFailure(r.why);
  return json{{"ok", true}, {"vm", r.vm}, {"vsock_uds", r.vsock_uds}}.dump() + "\n";
}

std::string EncodeFailure(const std::string& why) {
  return json{{"ok", false}, {"why", why}}.dump() + "\n";
}

Result<PoolClaimReply> ParseClaimReply(const std::string& line) {
  UVM_TRY(json j, ParseJsonObject(line, kReply));
  PoolClaimReply r;
  UVM_TRY(std::optional<std::string> refused, Refusal(j));
  if (refused) {
    r.why = *refused;
    return r;
  }
  r.ok = true;
  UVM_TRY(r.vm, Str(j, "vm", kReply));
  UVM_TRY(r.vsock_uds, Str(j, "vsock_uds", kReply));
  if (r.vsock_uds.empty() || r.vsock_uds[0] != '/') {
    return Err("the reply's \"vsock_uds\" is not a path");
  }
  return r;
}

std::string EncodePoolStatus(const PoolStatus& s) {
  json shapes = json::array();
  for (const auto& p : s.shapes) {
    shapes.push_back({{"key", p.key},
                      {"image", p.image},
                      {"memory_mib", p.memory_mib},
                      {"cpus", p.cpus},
                      {"ready", p.ready},
                      {"in_use", p.in_use},
                      {"served", p.served},
                      {"missed", p.missed},
                      {"error", p.error}});
  }
  return json{{"ok", true}, {"pid", s.pid}, {"size", s.size}, {"shapes", shapes}}.dump() + "\n";
}

Result<PoolStatus> ParsePoolStatus(const std::string& line) {
  UVM_TRY(json j, ParseJsonObject(line, kReply));
  UVM_TRY(std::optional<std::string> refused, Refusal(j));
  if (refused) return Err(*refused);
  PoolStatus s;
  UVM_TRY(int64_t pid, ReqIntInRange(j, "pid", 0, INT32_MAX, kReply));
  UVM_TRY(int64_t size, ReqIntInRange(j, "size", 0, 1024, kReply));
  s.pid = static_cast<int>(pid);
  s.size = static_cast<int>(size);
  auto shapes = j.find("shapes");
  if (shapes == j.end() || !shapes->is_array()) return Err("\"shapes\" must be an array");
  for (const json& e : *shapes) {
    if (!e.is_object()) return Err("a shape's status must be an object");
    PoolShapeStatus p;
    UVM_TRY(p.key, Str(e, "key", kReply));
    UVM_TRY(p.image, Str(e, "image", kReply));
    UVM_TRY(p.error, Str(e, "error", kReply));
    UVM_TRY(int64_t memory_mib, ReqIntInRange(e, "memory_mib", 0, 1 << 20, kReply));
    UVM_TRY(int64_t cpus, ReqIntInRange(e, "cpus", 0, boot::kMaxCpus, kReply));
    UVM_TRY(int64_t ready, ReqIntInRange(e, "ready", 0, 1 << 20, kReply));
    UVM_TRY(int64_t in_use, ReqIntInRange(e, "in_use", 0, 1 << 20, kReply));
    UVM_TRY(int64_t served, ReqIntInRange(e, "served", 0, INT64_MAX, kReply));
    UVM_TRY(int64_t missed, ReqIntInRange(e, "missed", 0, INT64_MAX, kReply));
    p.memory_mib = static_cast<uint64_t>(memory_mib);
    p.cpus = static_cast<int>(cpus);
    p.ready = static_cast<int>(ready);
    p.in_use = static_cast<int>(in_use);
    p.served = static_cast<uint64_t>(served);
    p.missed = static_cast<uint64_t>(missed);
    s.shapes.push_back(std::move(p));
  }
  return s;
}

Result<std::string> ReadPoolLine(int fd, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string line;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return Err("no answer within " + std::to_string(timeout_ms) + " ms");
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoErr("poll");
    if (n == 0) continue;
    // Peek, then take up to the newline only: whatever follows the line stays in the socket.
    ssize_t got = ::recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) return ErrnoErr("recv");
    if (got == 0) return Err("the connection closed before a whole line");
    const void* nl = std::memchr(buf, '\n', static_cast<size_t>(got));
    const size_t take =
        nl ? static_cast<size_t>(static_cast<const char*>(nl) - buf) + 1 : static_cast<size_t>(got);
    if (::recv(fd, buf, take, MSG_DONTWAIT) != static_cast<ssize_t>(take)) {
      return ErrnoErr("recv");
    }
    line.append(buf, nl ? take - 1 : take);
    if (line.size() > kMaxPoolLine) return Err("a line longer than 64 KiB");
    if (nl) return line;
  }
}

Result<void> WritePoolLine(int fd, const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::send(fd, line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoErr("send");
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace uvm::runtime
