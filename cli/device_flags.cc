#include "cli/device_flags.h"

#include <sys/stat.h>

#include <filesystem>
#include <string>

namespace uvm::cli {

namespace block = devices::virtio::block;
namespace net = devices::virtio::net;
namespace fs = devices::virtio::fs;

Result<block::DiskSpec> ParseDiskFlag(std::string_view spec) {
  block::DiskSpec out;
  const size_t comma = spec.rfind(',');
  if (comma != std::string_view::npos) {
    const std::string_view option = spec.substr(comma + 1);
    if (option == "ro") {
      out.read_only = true;
    } else if (option != "rw") {
      return Err(ErrorCode::kInvalidArgument, "disk '" + std::string(spec) + "': unknown option '" +
                                                  std::string(option) +
                                                  "' (expected PATH or PATH,ro)");
    }
    spec = spec.substr(0, comma);
  }
  if (spec.empty())
    return Err(ErrorCode::kInvalidArgument, "disk: empty path (expected PATH or PATH,ro)");
  out.path = std::string(spec);
  return out;
}

Result<net::NetSpec> ParseNetFlag(std::string_view text) {
  net::NetSpec spec;
  const size_t comma = text.find(',');
  spec.tap = std::string(text.substr(0, comma));
  UVM_CHECK(net::CheckTapName(spec.tap));
  spec.mac = net::DefaultMac(spec.tap);
  bool have_mac = false;
  std::string_view rest = comma == std::string_view::npos ? "" : text.substr(comma + 1);
  while (comma != std::string_view::npos) {
    const size_t next = rest.find(',');
    const std::string_view option = rest.substr(0, next);
    constexpr std::string_view kMac = "mac=";
    if (option.substr(0, kMac.size()) == kMac && !have_mac) {
      UVM_TRY(spec.mac, net::ParseMac(option.substr(kMac.size())));
      have_mac = true;
    } else {
      // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict on the chained `+`.
      std::string msg = "'";
      msg.append(text).append("': unknown or repeated option '").append(option);
      msg.append("' (expected TAP[,mac=XX:XX:XX:XX:XX:XX])");
      return Err(ErrorCode::kInvalidArgument, msg);
    }
    if (next == std::string_view::npos) break;
    rest = rest.substr(next + 1);
  }
  return spec;
}

Result<fs::ShareSpec> ParseShareFlag(std::string_view text) {
  constexpr std::string_view kUsage = " (expected HOSTDIR,tag=TAG[,ro])";
  fs::ShareSpec spec;
  const size_t comma = text.find(',');
  const std::string dir(text.substr(0, comma));
  if (dir.empty()) return Err(ErrorCode::kInvalidArgument, "empty directory" + std::string(kUsage));
  bool have_tag = false;
  std::string_view rest = comma == std::string_view::npos ? "" : text.substr(comma + 1);
  while (!rest.empty()) {
    const size_t next = rest.find(',');
    const std::string_view option = rest.substr(0, next);
    constexpr std::string_view kTag = "tag=";
    if (option.substr(0, kTag.size()) == kTag && !have_tag) {
      spec.tag = std::string(option.substr(kTag.size()));
      have_tag = true;
    } else if (option == "ro" || option == "rw") {
      spec.config.read_only = option == "ro";
    } else {
      std::string msg = "'";
      msg.append(text).append("': unknown or repeated option '").append(option).append("'");
      return Err(ErrorCode::kInvalidArgument, msg + std::string(kUsage));
    }
    rest = next == std::string_view::npos ? "" : rest.substr(next + 1);
  }
  if (!have_tag) {
    return Err(ErrorCode::kInvalidArgument,
               "'" + std::string(text) + "': no tag" + std::string(kUsage));
  }
  if (std::string why = fs::CheckTag(spec.tag); !why.empty()) {
    return Err(ErrorCode::kInvalidArgument, why);
  }
  UVM_TRY(spec.config.host_dir, ExistingDirectory(dir));
  return spec;
}

Result<std::string> ExistingDirectory(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(path, ec);
  struct stat st;
  if (ec || ::stat(abs.c_str(), &st) < 0) return ErrnoErr(path);
  if (!S_ISDIR(st.st_mode)) {
    return Err(ErrorCode::kInvalidArgument,
               path + ": not a directory (uvm shares directories, not single files)");
  }
  return abs.lexically_normal().string();
}

Result<runtime::VolumeSpec> ParseVolumeFlag(std::string_view text) {
  constexpr std::string_view kUsage = " (expected HOSTDIR:TARGET[:ro])";
  runtime::VolumeSpec v;
  const std::string all(text);
  const size_t first = text.find(':');
  if (first == std::string_view::npos) {
    return Err(ErrorCode::kInvalidArgument, "'" + all + "': no TARGET" + std::string(kUsage));
  }
  const std::string host(text.substr(0, first));
  std::string_view rest = text.substr(first + 1);
  const size_t second = rest.find(':');
  v.target = std::string(rest.substr(0, second));
  if (second != std::string_view::npos) {
    const std::string_view mode = rest.substr(second + 1);
    if (mode != "ro" && mode != "rw") {
      return Err(ErrorCode::kInvalidArgument,
                 "'" + all + "': unknown mode '" + std::string(mode) + "'" + std::string(kUsage));
    }
    v.read_only = mode == "ro";
  }
  if (host.empty() || host[0] != '/') {
    return Err(ErrorCode::kUnsupported,
               "'" + all + "': HOSTDIR must be an absolute path (" + "uvm has no named volumes)");
  }
  if (v.target.size() < 2 || v.target[0] != '/') {
    return Err(ErrorCode::kInvalidArgument,
               "'" + all + "': TARGET must be an absolute path other than /" + std::string(kUsage));
  }
  std::error_code ec;
  if (!std::filesystem::exists(host, ec)) {
    std::filesystem::create_directories(host, ec);  // docker makes a missing HOSTDIR
    if (ec) return Err(ErrorCode::kFailed, "'" + all + "': making " + host + ": " + ec.message());
  }
  UVM_TRY(v.host_dir, ExistingDirectory(host));
  return v;
}

Result<std::vector<fs::ShareSpec>> ParseShareFlags(const std::vector<std::string>& flags) {
  std::vector<fs::ShareSpec> out;
  for (const std::string& flag : flags) {
    UVM_TRY(fs::ShareSpec share, Context(ParseShareFlag(flag), "--share"));
    for (const fs::ShareSpec& other : out) {
      if (other.tag == share.tag) {
        return Err(ErrorCode::kInvalidArgument, "--share: tag '" + share.tag + "' given twice");
      }
    }
    out.push_back(std::move(share));
  }
  return out;
}

Result<std::vector<block::DiskSpec>> ParseDiskFlags(const std::vector<std::string>& flags) {
  std::vector<block::DiskSpec> out;
  for (const std::string& flag : flags) {
    UVM_TRY(block::DiskSpec disk, Context(ParseDiskFlag(flag), "--disk"));
    out.push_back(std::move(disk));
  }
  return out;
}

}  // namespace uvm::cli
