#include "oci/bundle_isolation.h"

#include <algorithm>

#include "base/fs.h"
#include "base/json.h"
#include "base/quoted.h"

namespace uvm::oci {

Result<Isolation> IsolationOfConfig(std::string_view config_json, std::optional<Isolation> flag) {
  UVM_TRY(nlohmann::json config, ParseJsonObject(config_json, "config.json"));
  UVM_TRY(nlohmann::json annotations, OptObject(config, "annotations", "config.json"));
  UVM_TRY(std::optional<std::string> word,
          OptString(annotations, kIsolationAnnotation, "config.json annotations"));
  if (!word) return flag.value_or(Isolation::kVm);
  const std::optional<Isolation> isolation = ParseIsolation(*word);
  if (!isolation) {
    return Err(std::string("config.json: annotation ") + kIsolationAnnotation + " is " +
               Quoted(*word) + ": vm or process");
  }
  return *isolation;
}

Result<Isolation> IsolationOfBundle(const std::string& bundle_dir, std::optional<Isolation> flag) {
  // Errors name the path, which the engine chose: one with control characters is refused whole.
  const bool control = std::any_of(bundle_dir.begin(), bundle_dir.end(),
                                   [](unsigned char c) { return c < 0x20 || c == 0x7f; });
  if (control) return Err("bundle path " + Quoted(bundle_dir) + " has control characters");
  UVM_TRY(std::string text, ReadFileLimited(bundle_dir + "/config.json", kMaxConfigBytes));
  return IsolationOfConfig(text, flag);
}

}  // namespace uvm::oci
