#include "store/image_config.h"

#include "base/json.h"
#include "base/quoted.h"
#include "base/sha256.h"

namespace uvm::store {

ImageConfig DefaultImageConfig() {
  ImageConfig c;
  c.env = {kDefaultPath};
  return c;
}

Result<ParsedImageConfig> ParseImageConfig(std::string_view text) {
  const std::string what = "image config";
  UVM_TRY(nlohmann::json j, ParseJsonObject(text, what));
  UVM_TRY(std::optional<std::string> os, OptString(j, "os", what));
  if (os && *os != "linux") return Err(what + ": the image is for " + Quoted(*os) + ", not linux");
  UVM_TRY(std::optional<std::string> arch, OptString(j, "architecture", what));
  if (arch && *arch != "amd64") {
    return Err(what + ": the image is for " + Quoted(*arch) + "; uvm runs amd64 guests");
  }
  ParsedImageConfig out;
  UVM_TRY(nlohmann::json c, OptObject(j, "config", what));
  const std::string cwhat = what + " config";
  UVM_TRY(out.config.entrypoint, OptStrings(c, "Entrypoint", cwhat));
  UVM_TRY(out.config.cmd, OptStrings(c, "Cmd", cwhat));
  UVM_TRY(out.config.env, OptStrings(c, "Env", cwhat));
  for (const std::string& e : out.config.env) {
    if (e.find('=') == std::string::npos || e.front() == '=') {
      return Err(cwhat + ": Env entry " + Quoted(e) + " is not KEY=VALUE");
    }
  }
  UVM_TRY(std::optional<std::string> wd, OptString(c, "WorkingDir", cwhat));
  if (wd) out.config.working_dir = *wd;
  UVM_TRY(std::optional<std::string> user, OptString(c, "User", cwhat));
  if (user) out.config.user = *user;
  UVM_TRY(nlohmann::json rootfs, OptObject(j, "rootfs", what));
  UVM_TRY(std::optional<std::string> type, OptString(rootfs, "type", what + " rootfs"));
  if (type && *type != "layers")
    return Err(what + ": rootfs type " + Quoted(*type) + " is not layers");
  UVM_TRY(out.diff_ids, OptStrings(rootfs, "diff_ids", what + " rootfs"));
  for (const std::string& d : out.diff_ids) {
    if (!IsSha256Digest(d)) return Err(what + ": diff_id " + Quoted(d) + " is not a sha256 digest");
  }
  return out;
}

}  // namespace uvm::store
