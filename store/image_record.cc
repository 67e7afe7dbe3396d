#include "store/image_record.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/quoted.h"

namespace uvm::store {

std::string SerializeImageRecord(const ImageRecord& r) {
  nlohmann::json j = {{"name", r.name},
                      {"digest", r.digest},
                      {"disk", r.disk},
                      {"disk_bytes", r.disk_bytes},
                      {"source", r.source},
                      {"created", r.created},
                      {"config",
                       {{"entrypoint", r.config.entrypoint},
                        {"cmd", r.config.cmd},
                        {"env", r.config.env},
                        {"working_dir", r.config.working_dir},
                        {"user", r.config.user}}}};
  // Invalid UTF-8 in a name or config string (from an image) is replaced, not thrown on.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Result<ImageRecord> ParseImageRecord(std::string_view json) {
  const std::string what = "image record";
  UVM_TRY(nlohmann::json j, ParseJsonObject(json, what));
  ImageRecord r;
  UVM_TRY(r.name, ReqString(j, "name", what));
  UVM_TRY(r.digest, ReqString(j, "digest", what));
  UVM_TRY(r.disk, ReqString(j, "disk", what));
  if (r.disk.empty() || r.disk.find('/') != std::string::npos || r.disk[0] == '.') {
    return Err(what + ": bad disk name " + Quoted(r.disk));
  }
  UVM_TRY(std::optional<int64_t> bytes, OptInt(j, "disk_bytes", what));
  r.disk_bytes = bytes && *bytes > 0 ? static_cast<uint64_t>(*bytes) : 0;
  UVM_TRY(std::optional<std::string> source, OptString(j, "source", what));
  if (source) r.source = *source;
  UVM_TRY(std::optional<int64_t> created, OptInt(j, "created", what));
  r.created = created.value_or(0);
  UVM_TRY(nlohmann::json c, OptObject(j, "config", what));
  UVM_TRY(r.config.entrypoint, OptStrings(c, "entrypoint", what));
  UVM_TRY(r.config.cmd, OptStrings(c, "cmd", what));
  UVM_TRY(r.config.env, OptStrings(c, "env", what));
  UVM_TRY(std::optional<std::string> wd, OptString(c, "working_dir", what));
  r.config.working_dir = wd.value_or("");
  UVM_TRY(std::optional<std::string> user, OptString(c, "user", what));
  r.config.user = user.value_or("");
  return r;
}

Result<void> CheckImageName(const std::string& name) {
  auto bad = [&](const std::string& why) { return Err("image name " + Quoted(name) + ": " + why); };
  if (name.empty() || name.size() > 128) return bad("must be 1 to 128 characters");
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) {
    return bad("must start with a letter or digit");
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' &&
        c != '@' && c != '/' && c != '-') {
      return bad("may hold only letters, digits and . _ : @ / -");
    }
  }
  if (name.find("..") != std::string::npos) return bad("may not hold \"..\"");
  return {};
}

std::string RecordFileName(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (c == '/') c = '+';
  }
  return out + ".json";
}

}  // namespace uvm::store
