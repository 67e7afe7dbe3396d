#include "cli/pool_protocol.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "boot/layout.h"

namespace uvm::cli {
namespace {

using nlohmann::json;

json ShapeJson(const TemplateShape& s) {
  return {{"kernel", s.kernel},   {"initrd", s.initrd}, {"memory_mib", s.memory_mib},
          {"cpus", s.cpus},       {"net", s.net},       {"image_disk", s.image_disk},
          {"image", s.image_name}};
}

Result<json> ParseObject(const std::string& line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Err("not a JSON object");
  return j;
}

// The string field `name`, absent -> "", anything else than a string refused.
Result<std::string> StringField(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return std::string();
  if (!it->is_string()) return Err(std::string("\"") + name + "\" must be a string");
  std::string s = it->get<std::string>();
  if (s.find('\0') != std::string::npos) return Err(std::string("\"") + name + "\" holds a NUL");
  return s;
}

Result<uint64_t> UintField(const json& j, const char* name, uint64_t max) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_number_unsigned() || it->get<uint64_t>() > max) {
    return Err(std::string("\"") + name + "\" must be a number from 0 to " + std::to_string(max));
  }
  return it->get<uint64_t>();
}

bool IsAbsolutePath(const std::string& p) { return !p.empty() && p[0] == '/'; }

Result<TemplateShape> ParseShape(const json& j) {
  if (!j.is_object()) return Err("\"shape\" must be an object");
  TemplateShape s;
  UVM_TRY(s.kernel, StringField(j, "kernel"));
  UVM_TRY(s.initrd, StringField(j, "initrd"));
  UVM_TRY(s.image_disk, StringField(j, "image_disk"));
  UVM_TRY(s.image_name, StringField(j, "image"));
  if (!IsAbsolutePath(s.kernel) || !IsAbsolutePath(s.initrd)) {
    return Err("\"kernel\" and \"initrd\" must be absolute paths");
  }
  if (!s.image_disk.empty() && !IsAbsolutePath(s.image_disk)) {
    return Err("\"image_disk\" must be an absolute path");
  }
  UVM_TRY(s.memory_mib, UintField(j, "memory_mib", 1u << 20));
  if ((s.memory_mib << 20) < boot::kMinRamBytes) {
    return Err("\"memory_mib\" must be at least " + std::to_string(boot::kMinRamBytes >> 20));
  }
  UVM_TRY(uint64_t cpus, UintField(j, "cpus", boot::kMaxCpus));
  if (cpus < 1) return Err("\"cpus\" must be at least 1");
  s.cpus = static_cast<int>(cpus);
  auto net = j.find("net");
  if (net != j.end() && !net->is_boolean()) return Err("\"net\" must be true or false");
  s.net = net != j.end() && net->get<bool>();
  return s;
}

bool IsKey(const std::string& k) {
  return k.size() == 16 && k.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// A reply's "ok": false carries "why".
Result<void> CheckOk(const json& j) {
  auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean()) return Err("the reply has no \"ok\"");
  if (!ok->get<bool>()) {
    UVM_TRY(std::string why, StringField(j, "why"));
    return Err(why.empty() ? "refused" : why);
  }
  return {};
}

}  // namespace

std::string EncodePoolRequest(const PoolRequest& r) {
  json j;
  switch (r.op) {
    case PoolOp::kClaim:
      j = {{"op", "claim"}, {"key", r.key}, {"shape", ShapeJson(r.shape)}};
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
  UVM_TRY(json j, ParseObject(line));
  UVM_TRY(std::string op, StringField(j, "op"));
  PoolRequest r;
  if (op == "status") {
    r.op = PoolOp::kStatus;
  } else if (op == "stop") {
    r.op = PoolOp::kStop;
  } else if (op == "claim") {
    r.op = PoolOp::kClaim;
    UVM_TRY(r.key, StringField(j, "key"));
    if (!IsKey(r.key)) return Err("\"key\" must be 16 lowercase hex digits");
    auto shape = j.find("shape");
    if (shape == j.end()) return Err("a claim needs a \"shape\"");
    UVM_TRY(r.shape, ParseShape(*shape));
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
  UVM_TRY(json j, ParseObject(line));
  PoolClaimReply r;
  if (auto ok = j.find("ok"); ok == j.end() || !ok->is_boolean()) {
    return Err("the reply has no \"ok\"");
  }
  if (auto ok = CheckOk(j); !ok) {
    r.why = ok.error().message;
    return r;
  }
  r.ok = true;
  UVM_TRY(r.vm, StringField(j, "vm"));
  UVM_TRY(r.vsock_uds, StringField(j, "vsock_uds"));
  if (!IsAbsolutePath(r.vsock_uds)) return Err("the reply's \"vsock_uds\" is not a path");
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
  UVM_TRY(json j, ParseObject(line));
  UVM_CHECK(CheckOk(j));
  PoolStatus s;
  UVM_TRY(uint64_t pid, UintField(j, "pid", INT32_MAX));
  UVM_TRY(uint64_t size, UintField(j, "size", 1024));
  s.pid = static_cast<int>(pid);
  s.size = static_cast<int>(size);
  auto shapes = j.find("shapes");
  if (shapes == j.end() || !shapes->is_array()) return Err("\"shapes\" must be an array");
  for (const json& e : *shapes) {
    if (!e.is_object()) return Err("a shape's status must be an object");
    PoolShapeStatus p;
    UVM_TRY(p.key, StringField(e, "key"));
    UVM_TRY(p.image, StringField(e, "image"));
    UVM_TRY(p.error, StringField(e, "error"));
    UVM_TRY(p.memory_mib, UintField(e, "memory_mib", 1u << 20));
    UVM_TRY(uint64_t cpus, UintField(e, "cpus", boot::kMaxCpus));
    UVM_TRY(uint64_t ready, UintField(e, "ready", 1u << 20));
    UVM_TRY(uint64_t in_use, UintField(e, "in_use", 1u << 20));
    UVM_TRY(p.served, UintField(e, "served", UINT64_MAX));
    UVM_TRY(p.missed, UintField(e, "missed", UINT64_MAX));
    p.cpus = static_cast<int>(cpus);
    p.ready = static_cast<int>(ready);
    p.in_use = static_cast<int>(in_use);
    s.shapes.push_back(std::move(p));
  }
  return s;
}

Result<std::string> ReadPoolLine(int fd, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string line;
  char c;
  // Byte by byte: the lease connection carries nothing after the line, and lines are short.
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
    ssize_t got = ::read(fd, &c, 1);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) return ErrnoErr("read");
    if (got == 0) return Err("the connection closed before a whole line");
    if (c == '\n') return line;
    if (line.size() >= kMaxPoolLine) return Err("a line longer than 64 KiB");
    line.push_back(c);
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

}  // namespace uvm::cli
