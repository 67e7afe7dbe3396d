#include "guest-agent/protocol/messages.h"

#include <arpa/inet.h>

#include <csignal>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/netif.h"

namespace uvm::agent {
namespace {

using nlohmann::json;

template <class E>
struct EnumName {
  E value;
  const char* name;
};

constexpr EnumName<Role> kRoles[] = {{Role::kControl, "control"}, {Role::kStream, "stream"}};
constexpr EnumName<StreamKind> kStreams[] = {{StreamKind::kStdin, "stdin"},
                                             {StreamKind::kStdout, "stdout"},
                                             {StreamKind::kStderr, "stderr"}};
constexpr EnumName<ErrorKind> kErrorKinds[] = {{ErrorKind::kFailed, "failed"},
                                               {ErrorKind::kUnsupported, "unsupported"}};
constexpr EnumName<ExecError> kErrors[] = {{ExecError::kNone, "none"},
                                           {ExecError::kNotFound, "not_found"},
                                           {ExecError::kCannotExecute, "cannot_execute"},
                                           {ExecError::kSetup, "setup"}};

template <class E, size_t N>
const char* NameOf(const EnumName<E> (&table)[N], E value) {
  for (const auto& e : table) {
    if (e.value == value) return e.name;
  }
  return "?";
}

// Accessors that check types and ranges instead of throwing: a field that is absent keeps its
// default, a field of the wrong type is an error.
class Reader {
 public:
  explicit Reader(const json& j) : j_(j) {}

  Result<void> String(const char* key, std::string& out) const {
    auto it = j_.find(key);
    if (it == j_.end()) return {};
    if (!it->is_string()) return Err(std::string("'") + key + "' must be a string");
    out = it->get<std::string>();
    return {};
  }
  Result<void> Bool(const char* key, bool& out) const {
    auto it = j_.find(key);
    if (it == j_.end()) return {};
    if (!it->is_boolean()) return Err(std::string("'") + key + "' must be true or false");
    out = it->get<bool>();
    return {};
  }
  template <class T>
  Result<void> Int(const char* key, T& out, int64_t min, uint64_t max) const {
    auto it = j_.find(key);
    if (it == j_.end()) return {};
    bool ok = false;
    if (it->is_number_unsigned()) {
      uint64_t v = it->get<uint64_t>();
      ok = v <= max && (min <= 0 || v >= static_cast<uint64_t>(min));
      if (ok) out = static_cast<T>(v);
    } else if (it->is_number_integer()) {
      int64_t v = it->get<int64_t>();
      ok = v >= min && (v < 0 || static_cast<uint64_t>(v) <= max);
      if (ok) out = static_cast<T>(v);
    }
    if (!ok) return Err(std::string("'") + key + "' must be an integer in range");
    return {};
  }
  Result<void> Strings(const char* key, std::vector<std::string>& out) const {
    auto it = j_.find(key);
    if (it == j_.end()) return {};
    if (!it->is_array()) return Err(std::string("'") + key + "' must be an array of strings");
    out.clear();
    for (const auto& s : *it) {
      if (!s.is_string()) return Err(std::string("'") + key + "' must be an array of strings");
      out.push_back(s.get<std::string>());
    }
    return {};
  }
  template <class E, size_t N>
  Result<void> Enum(const char* key, const EnumName<E> (&table)[N], E& out) const {
    std::string name;
    if (j_.find(key) == j_.end()) return {};
    UVM_CHECK(String(key, name));
    for (const auto& e : table) {
      if (name == e.name) {
        out = e.value;
        return {};
      }
    }
    return Err(std::string("'") + key + "' has unknown value '" + name + "'");
  }

 private:
  const json& j_;
};

constexpr uint64_t kMaxU16 = std::numeric_limits<uint16_t>::max();
constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxI32 = std::numeric_limits<int32_t>::max();
constexpr uint64_t kMaxI64 = std::numeric_limits<int64_t>::max();
constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

json ToJson(const Hello& m) {
  json j = {{"type", "hello"}, {"version", m.version}, {"role", NameOf(kRoles, m.role)}};
  if (m.role == Role::kStream) {
    j["exec_id"] = m.exec_id;
    j["stream"] = NameOf(kStreams, m.stream);
  }
  return j;
}
json RootfsJson(const Rootfs& fs) {
  json j = {{"device", fs.device}, {"fstype", fs.fstype}, {"overlay_mib", fs.overlay_mib}};
  if (!fs.volumes.empty()) {
    json volumes = json::array();
    for (const Volume& v : fs.volumes) {
      volumes.push_back({{"tag", v.tag}, {"target", v.target}, {"read_only", v.read_only}});
    }
    j["volumes"] = std::move(volumes);
  }
  return j;
}
json ToJson(const ExecRequest& m) {
  json j = {{"type", "exec"}, {"argv", m.argv}, {"env", m.env},
            {"cwd", m.cwd},   {"user", m.user}, {"tty", m.tty},
            {"rows", m.rows}, {"cols", m.cols}, {"hostname", m.hostname}};
  if (m.rootfs) j["rootfs"] = RootfsJson(*m.rootfs);
  if (m.realtime_ns) j["realtime_ns"] = m.realtime_ns;
  if (!m.entropy.empty()) j["entropy"] = m.entropy;
  if (m.network) {
    j["network"] = {{"interface", m.network->interface},
                    {"address", m.network->address},
                    {"prefix", m.network->prefix},
                    {"gateway", m.network->gateway}};
    if (!m.network->mac.empty()) j["network"]["mac"] = m.network->mac;
  }
  if (m.bundle) {
    json shares = json::array();
    for (const BundleShare& share : m.bundle->shares) {
      shares.push_back({{"tag", share.tag}, {"read_only", share.read_only}});
    }
    j["bundle"] = {{"shares", std::move(shares)},
                   {"config", m.bundle->config},
                   {"name", m.bundle->name},
                   {"process", m.bundle->process}};
  }
  return j;
}
json ToJson(const ExecAccepted& m) { return {{"type", "exec_accepted"}, {"exec_id", m.exec_id}}; }
json ToJson(const Started& m) { return {{"type", "started"}, {"pid", m.pid}}; }
json ToJson(const SignalRequest& m) { return {{"type", "signal"}, {"signal", m.signal}}; }
json ToJson(const ResizeRequest& m) {
  return {{"type", "resize"}, {"rows", m.rows}, {"cols", m.cols}};
}
json ToJson(const Exit& m) {
  return {{"type", "exit"},         {"exit_code", m.exit_code},
          {"signal", m.signal},     {"error", NameOf(kErrors, m.error)},
          {"errno", m.error_errno}, {"message", m.message}};
}
json ToJson(const ErrorReply& m) {
  return {{"type", "error"}, {"message", m.message}, {"kind", NameOf(kErrorKinds, m.kind)}};
}
json ToJson(const PrepareImage& m) {
  return {
      {"type", "prepare_image"}, {"rootfs", RootfsJson(m.rootfs)}, {"warm_bytes", m.warm_bytes}};
}
json ToJson(const ImagePrepared& m) {
  return {{"type", "image_prepared"}, {"files", m.files}, {"bytes", m.bytes}};
}

Result<Rootfs> DecodeRootfs(const json& j) {
  if (!j.is_object()) return Err("'rootfs' must be an object");
  Reader rr(j);
  Rootfs fs;
  UVM_CHECK(rr.String("device", fs.device));
  UVM_CHECK(rr.String("fstype", fs.fstype));
  UVM_CHECK(rr.Int("overlay_mib", fs.overlay_mib, 1, 1 << 20));
  auto it = j.find("volumes");
  if (it != j.end() && !it->is_null()) {
    if (!it->is_array()) return Err("'volumes' must be an array");
    if (it->size() > kMaxVolumes)
      return Err("more than " + std::to_string(kMaxVolumes) + " volumes");
    for (const json& v : *it) {
      if (!v.is_object()) return Err("a volume must be an object");
      Reader vr(v);
      Volume volume;
      UVM_CHECK(vr.String("tag", volume.tag));
      UVM_CHECK(vr.String("target", volume.target));
      UVM_CHECK(vr.Bool("read_only", volume.read_only));
      fs.volumes.push_back(std::move(volume));
    }
  }
  return fs;
}

Result<Message> DecodeHello(const Reader& r) {
  Hello m;
  UVM_CHECK(r.Int("version", m.version, 0, kMaxU32));
  UVM_CHECK(r.Enum("role", kRoles, m.role));
  UVM_CHECK(r.Int("exec_id", m.exec_id, 0, kMaxU64));
  UVM_CHECK(r.Enum("stream", kStreams, m.stream));
  return m;
}

Result<Message> DecodeExec(const json& j, const Reader& r) {
  ExecRequest m;
  UVM_CHECK(r.Strings("argv", m.argv));
  UVM_CHECK(r.Strings("env", m.env));
  UVM_CHECK(r.String("cwd", m.cwd));
  UVM_CHECK(r.String("user", m.user));
  UVM_CHECK(r.Bool("tty", m.tty));
  UVM_CHECK(r.Int("rows", m.rows, 0, kMaxU16));
  UVM_CHECK(r.Int("cols", m.cols, 0, kMaxU16));
  UVM_CHECK(r.String("hostname", m.hostname));
  UVM_CHECK(r.Int("realtime_ns", m.realtime_ns, 0, kMaxU64));
  UVM_CHECK(r.String("entropy", m.entropy));
  UVM_CHECK(DecodeEntropy(m.entropy));
  auto it = j.find("rootfs");
  if (it != j.end() && !it->is_null()) {
    UVM_TRY(m.rootfs, DecodeRootfs(*it));
  }
  it = j.find("network");
  if (it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Err("'network' must be an object");
    Reader nr(*it);
    Network net;
    UVM_CHECK(nr.String("interface", net.interface));
    UVM_CHECK(nr.String("address", net.address));
    UVM_CHECK(nr.Int("prefix", net.prefix, 1, 32));
    UVM_CHECK(nr.String("gateway", net.gateway));
    UVM_CHECK(nr.String("mac", net.mac));
    UVM_CHECK(ValidateNetwork(net));
    m.network = net;
  }
  it = j.find("bundle");
  if (it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Err("'bundle' must be an object");
    Reader br(*it);
    OciBundle bundle;
    UVM_CHECK(br.String("config", bundle.config));
    UVM_CHECK(br.String("name", bundle.name));
    UVM_CHECK(br.String("process", bundle.process));
    if (bundle.config.size() > kMaxBundleConfigBytes ||
        bundle.process.size() > kMaxBundleConfigBytes) {
      return Err("the bundle's config is too big");
    }
    auto shares = it->find("shares");
    if (shares != it->end() && !shares->is_null()) {
      if (!shares->is_array()) return Err("'shares' must be an array");
      if (shares->size() > kMaxBundleShares) return Err("too many bundle shares");
      for (const json& s : *shares) {
        if (!s.is_object()) return Err("a bundle share must be an object");
        Reader sr(s);
        BundleShare share;
        UVM_CHECK(sr.String("tag", share.tag));
        UVM_CHECK(sr.Bool("read_only", share.read_only));
        bundle.shares.push_back(std::move(share));
      }
    }
    m.bundle = std::move(bundle);
  }
  return m;
}

Result<Message> DecodeExit(const Reader& r) {
  Exit m;
  UVM_CHECK(r.Int("exit_code", m.exit_code, -1, 255));
  UVM_CHECK(r.Int("signal", m.signal, 0, 127));
  UVM_CHECK(r.Enum("error", kErrors, m.error));
  UVM_CHECK(r.Int("errno", m.error_errno, 0, kMaxI32));
  UVM_CHECK(r.String("message", m.message));
  return m;
}

Result<Message> DecodeObject(const json& j) {
  if (!j.is_object()) return Err("a message must be a JSON object");
  Reader r(j);
  std::string type;
  UVM_CHECK(r.String("type", type));
  if (type == "hello") return DecodeHello(r);
  if (type == "exec") return DecodeExec(j, r);
  if (type == "exec_accepted") {
    ExecAccepted m;
    UVM_CHECK(r.Int("exec_id", m.exec_id, 0, kMaxU64));
    return m;
  }
  if (type == "started") {
    Started m;
    UVM_CHECK(r.Int("pid", m.pid, 0, kMaxI64));
    return m;
  }
  if (type == "signal") {
    SignalRequest m;
    if (!j.contains("signal")) return Err("'signal' is missing");  // no default is meaningful
    UVM_CHECK(r.Int("signal", m.signal, 1, 64));
    return m;
  }
  if (type == "resize") {
    ResizeRequest m;
    UVM_CHECK(r.Int("rows", m.rows, 0, kMaxU16));
    UVM_CHECK(r.Int("cols", m.cols, 0, kMaxU16));
    return m;
  }
  if (type == "exit") return DecodeExit(r);
  if (type == "prepare_image") {
    PrepareImage m;
    auto it = j.find("rootfs");
    if (it == j.end()) return Err("'rootfs' is missing");
    UVM_TRY(m.rootfs, DecodeRootfs(*it));
    UVM_CHECK(r.Int("warm_bytes", m.warm_bytes, 0, kMaxU64));
    return m;
  }
  if (type == "image_prepared") {
    ImagePrepared m;
    UVM_CHECK(r.Int("files", m.files, 0, kMaxU64));
    UVM_CHECK(r.Int("bytes", m.bytes, 0, kMaxU64));
    return m;
  }
  if (type == "error") {
    ErrorReply m;
    UVM_CHECK(r.String("message", m.message));
    UVM_CHECK(r.Enum("kind", kErrorKinds, m.kind));
    return m;
  }
  if (type.empty()) return Err("message has no 'type'");
  return Err("unknown message type '" + type + "'");
}

}  // namespace

Result<void> ValidateNetwork(const Network& net) {
  const std::string& ifname = net.interface;
  if (ifname.empty() || ifname.size() > 15 || ifname == "." || ifname == ".." ||
      ifname.find_first_of("/: \t\n") != std::string::npos) {
    return Err("network: bad interface name '" + ifname + "'");
  }
  in_addr address{}, gateway{};
  if (inet_pton(AF_INET, net.address.c_str(), &address) != 1) {
    return Err("network: bad IPv4 address '" + net.address + "'");
  }
  if (inet_pton(AF_INET, net.gateway.c_str(), &gateway) != 1) {
    return Err("network: bad IPv4 gateway '" + net.gateway + "'");
  }
  if (net.prefix < 1 || net.prefix > 32) {
    return Err("network: prefix length " + std::to_string(net.prefix) + " is not in 1..32");
  }
  const uint32_t mask = netif::PrefixMask(net.prefix);
  const uint32_t a = ntohl(address.s_addr), g = ntohl(gateway.s_addr);
  if (a == g || (a & mask) != (g & mask)) {
    return Err("network: gateway " + net.gateway + " is not another address of " + net.address +
               "/" + std::to_string(net.prefix));
  }
  if (!net.mac.empty()) UVM_CHECK(Context(ParseMacAddress(net.mac), "network"));
  return {};
}

Result<std::array<uint8_t, 6>> ParseMacAddress(std::string_view text) {
  const std::string what = "MAC address '" + std::string(text.substr(0, 32)) + "'";
  auto hex = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
  };
  std::array<uint8_t, 6> mac{};
  if (text.size() != 17) return Err(what + ": expected xx:xx:xx:xx:xx:xx");
  for (size_t i = 0; i < mac.size(); ++i) {
    const int hi = hex(text[3 * i]), lo = hex(text[3 * i + 1]);
    if (hi < 0 || lo < 0 || (i + 1 < mac.size() && text[3 * i + 2] != ':')) {
      return Err(what + ": expected xx:xx:xx:xx:xx:xx");
    }
    mac[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  // IEEE 802: the I/G bit (bit 0 of the first octet) marks a group address.
  if (mac[0] & 1) return Err(what + " is a multicast address");
  if (mac == std::array<uint8_t, 6>{}) return Err(what + " is all zeros");
  return mac;
}

std::string EncodeEntropy(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    hex.push_back(kDigits[b >> 4]);
    hex.push_back(kDigits[b & 15]);
  }
  return hex;
}

Result<std::string> DecodeEntropy(std::string_view hex) {
  if (hex.empty()) return std::string();
  const size_t bytes = hex.size() / 2;
  if (hex.size() % 2 != 0 || bytes < kMinEntropyBytes || bytes > kMaxEntropyBytes) {
    return Err("'entropy' must be " + std::to_string(kMinEntropyBytes) + " to " +
               std::to_string(kMaxEntropyBytes) + " bytes of lowercase hex, not " +
               std::to_string(hex.size()) + " characters");
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Err("'entropy' must be lowercase hex");
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

Result<std::string> EncodeMessage(const Message& message) {
  json j = std::visit([](const auto& m) { return ToJson(m); }, message);
  try {
    return j.dump();
  } catch (const json::exception&) {
    return Err("a message string is not valid UTF-8");
  }
}

Result<Message> DecodeMessage(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Err("agent message is not valid JSON");
  return Context(DecodeObject(j), "agent message");
}

int ShellExitCode(const Exit& exit) {
  switch (exit.error) {
    case ExecError::kNotFound:
      return 127;
    case ExecError::kCannotExecute:
      return 126;
    case ExecError::kSetup:
      return 125;
    case ExecError::kNone:
      break;
  }
  if (exit.signal > 0) return 128 + exit.signal;
  return exit.exit_code >= 0 ? exit.exit_code : 125;
}

std::string Describe(const Exit& exit) {
  if (exit.error != ExecError::kNone) return exit.message;
  if (exit.signal > 0) {
    const char* name = sigabbrev_np(exit.signal);
    return std::string("killed by signal ") + std::to_string(exit.signal) +
           (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "exited with " + std::to_string(exit.exit_code);
}

}  // namespace uvm::agent
