#include "oci/bundle_isolation.h"

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
  if (Quoted(bundle_dir, std::string::npos) != "\"" + bundle_dir + "\"") {
    return Err("bundle path " + Quoted(bundle_dir) + " has characters a path should not");
  }
  UVM_TRY(std::string text, ReadFileLimited(bundle_dir + "/config.json", kMaxConfigBytes));
  return IsolationOfConfig(text, flag);
}

}  // namespace uvm::oci
