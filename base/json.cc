#include "base/json.h"

namespace uvm {
namespace {

const nlohmann::json* Member(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

Result<nlohmann::json> ParseJsonObject(std::string_view text, const std::string& what) {
  // No exceptions: a parse error yields a discarded value.
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return Err(what + ": not valid JSON");
  if (!j.is_object()) return Err(what + ": not a JSON object");
  return j;
}

Result<std::optional<std::string>> OptString(const nlohmann::json& obj, const char* key,
                                             const std::string& what) {
  const nlohmann::json* m = Member(obj, key);
  if (!m) return std::optional<std::string>();
  if (!m->is_string()) return Err(what + ": \"" + key + "\" is not a string");
  return std::optional<std::string>(m->get_ref<const std::string&>());
}

Result<std::string> ReqString(const nlohmann::json& obj, const char* key, const std::string& what) {
  UVM_TRY(std::optional<std::string> s, OptString(obj, key, what));
  if (!s) return Err(what + ": \"" + key + "\" is missing");
  return *s;
}

Result<std::vector<std::string>> OptStrings(const nlohmann::json& obj, const char* key,
                                            const std::string& what) {
  std::vector<std::string> out;
  const nlohmann::json* m = Member(obj, key);
  if (!m) return out;
  if (!m->is_array()) return Err(what + ": \"" + key + "\" is not an array of strings");
  for (const nlohmann::json& e : *m) {
    if (!e.is_string()) return Err(what + ": \"" + key + "\" is not an array of strings");
    out.push_back(e.get_ref<const std::string&>());
  }
  return out;
}

Result<std::optional<int64_t>> OptInt(const nlohmann::json& obj, const char* key,
                                      const std::string& what) {
  const nlohmann::json* m = Member(obj, key);
  if (!m) return std::optional<int64_t>();
  if (m->is_number_unsigned()) {
    uint64_t v = m->get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) return Err(what + ": \"" + key + "\" is too large");
    return std::optional<int64_t>(static_cast<int64_t>(v));
  }
  if (!m->is_number_integer()) return Err(what + ": \"" + key + "\" is not an integer");
  return std::optional<int64_t>(m->get<int64_t>());
}

Result<int64_t> ReqIntInRange(const nlohmann::json& obj, const char* key, int64_t min, int64_t max,
                              const std::string& what) {
  UVM_TRY(std::optional<int64_t> v, OptInt(obj, key, what));
  if (!v) return Err(what + ": \"" + key + "\" is missing");
  if (*v < min || *v > max) {
    return Err(what + ": \"" + key + "\" must be " + std::to_string(min) + " to " +
               std::to_string(max));
  }
  return *v;
}

Result<nlohmann::json> OptArray(const nlohmann::json& obj, const char* key,
                                const std::string& what) {
  const nlohmann::json* m = Member(obj, key);
  if (!m) return nlohmann::json::array();
  if (!m->is_array()) return Err(what + ": \"" + key + "\" is not an array");
  return *m;
}

Result<nlohmann::json> OptObject(const nlohmann::json& obj, const char* key,
                                 const std::string& what) {
  const nlohmann::json* m = Member(obj, key);
  if (!m) return nlohmann::json::object();
  if (!m->is_object()) return Err(what + ": \"" + key + "\" is not an object");
  return *m;
}

}  // namespace uvm
