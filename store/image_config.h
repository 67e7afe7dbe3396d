// The parts of an OCI image configuration uvm honours (OCI image spec, config.md: the `config`
// object's Entrypoint, Cmd, Env, WorkingDir, User; `rootfs.diff_ids`). Docker's image config
// (docker-archive) has the same shape.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace uvm::store {

struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "KEY=VALUE"
  std::string working_dir;
  std::string user;
  bool operator==(const ImageConfig&) const = default;
};

struct ParsedImageConfig {
  ImageConfig config;
  // sha256 of each layer's uncompressed tar, in order (config.md "rootfs").
  std::vector<std::string> diff_ids;
};

// Parses an image configuration blob. Refuses images for another OS or architecture than the
// guest's (linux/amd64): their programs could not run in the UVM.
Result<ParsedImageConfig> ParseImageConfig(std::string_view json);

// The config of an image without one (a rootfs tar or directory): only a PATH, as Docker gives.
ImageConfig DefaultImageConfig();

inline constexpr char kDefaultPath[] =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

}  // namespace uvm::store
