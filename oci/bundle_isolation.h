// Which isolation a bundle asks for. The annotation `io.uvm.isolation` in its config.json
// (`podman run --annotation io.uvm.isolation=process`) names it for one container; the global
// --isolation flag (an engine registering uvm twice) for every container that does not; vm
// otherwise. The bundle comes from the engine: its config.json is read with a size cap and typed
// checks, and an annotation that is neither vm nor process is refused, never guessed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "oci/runtime_args.h"

namespace uvm::oci {

// config.json larger than this is refused (runc's own configs are a few KiB).
inline constexpr size_t kMaxConfigBytes = 4 << 20;

Result<Isolation> IsolationOfConfig(std::string_view config_json, std::optional<Isolation> flag);
Result<Isolation> IsolationOfBundle(const std::string& bundle_dir, std::optional<Isolation> flag);

}  // namespace uvm::oci
