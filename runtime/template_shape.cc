#include "runtime/template_shape.h"

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "boot/layout.h"
#include "runtime/paths.h"

namespace uvm::runtime {
namespace {

constexpr char kWhat[] = "template shape";

// A path member: absent or "" -> "" when `optional`, else it must be absolute (and hold no NUL,
// which would make the file opened differ from the one named).
Result<std::string> PathField(const nlohmann::json& j, const char* key, bool optional) {
  UVM_TRY(std::optional<std::string> s, OptString(j, key, kWhat));
  if ((!s || s->empty()) && optional) return std::string();
  if (!s || s->empty() || (*s)[0] != '/' || s->find('\0') != std::string::npos) {
    return Err(std::string(kWhat) + ": \"" + key + "\" must be an absolute path");
  }
  return *s;
}

}  // namespace

nlohmann::json ShapeToJson(const TemplateShape& s) {
  return {{"kernel", s.kernel},    {"initrd", s.initrd}, {"memory_mib", s.memory_mib},
          {"cpus", s.cpus},        {"net", s.net},       {"image_disk", s.image_disk},
          {"image", s.image_name}, {"shares", s.shares}};
}

std::string ShareTag(int index) { return "uvmfs" + std::to_string(index); }

Result<TemplateShape> ShapeFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Err(std::string(kWhat) + ": not a JSON object");
  TemplateShape s;
  UVM_TRY(s.kernel, PathField(j, "kernel", false));
  UVM_TRY(s.initrd, PathField(j, "initrd", false));
  UVM_TRY(s.image_disk, PathField(j, "image_disk", true));
  UVM_TRY(std::optional<std::string> image, OptString(j, "image", kWhat));
  s.image_name = image.value_or("");
  UVM_TRY(int64_t memory_mib,
          ReqIntInRange(j, "memory_mib", boot::kMinRamBytes >> 20, int64_t{1} << 20, kWhat));
  UVM_TRY(int64_t cpus, ReqIntInRange(j, "cpus", 1, boot::kMaxCpus, kWhat));
  s.memory_mib = static_cast<uint64_t>(memory_mib);
  s.cpus = static_cast<int>(cpus);
  auto net = j.find("net");
  if (net != j.end() && !net->is_boolean())
    return Err(std::string(kWhat) + ": \"net\" must be true or false");
  s.net = net != j.end() && net->get<bool>();
  UVM_TRY(std::optional<int64_t> shares, OptInt(j, "shares", kWhat));
  if (shares && (*shares < 0 || *shares > kMaxShares)) {
    return Err(std::string(kWhat) + ": \"shares\" must be 0 to " + std::to_string(kMaxShares));
  }
  s.shares = static_cast<int>(shares.value_or(0));
  return s;
}

TemplateShape BuiltinTemplateShape(uint64_t memory_mib, int cpus, bool net) {
  TemplateShape shape;
  shape.kernel = BuiltinKernel();
  shape.initrd = BuiltinAgentInitramfs();
  shape.memory_mib = memory_mib;
  shape.cpus = cpus;
  shape.net = net;
  return shape;
}

bool IsTemplateKey(const std::string& name) {
  return name.size() == 16 && name.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace uvm::runtime
