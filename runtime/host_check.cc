#include "runtime/host_check.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "base/fs.h"
#include "runtime/paths.h"
#include "vmm/host_probe.h"

namespace uvm::runtime {
namespace {

std::string VerdictFile() { return std::string(kRunDir) + "/linux-guests-run-here"; }

std::string ReadProcFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string HostVerdictKey(std::string_view boot_id, std::string_view proc_modules) {
  while (!boot_id.empty() && (boot_id.back() == '\n' || boot_id.back() == ' ')) {
    boot_id.remove_suffix(1);
  }
  if (boot_id.empty()) return "";
  std::string key = std::string(boot_id) + "\n";
  std::istringstream modules{std::string(proc_modules)};
  for (std::string line; std::getline(modules, line);) {
    // "name size refcount deps state address": the name and size say which module is loaded.
    if (!line.starts_with("kvm")) continue;
    std::istringstream fields(line);
    std::string name, size;
    fields >> name >> size;
    key += name + " " + size + "\n";
  }
  return key;
}

bool LinuxGuestsRunHere() {
  // /proc files say size 0, so they are read to their end rather than by their size.
  const std::string key = HostVerdictKey(ReadProcFile("/proc/sys/kernel/random/boot_id"),
                                         ReadProcFile("/proc/modules"));
  if (!key.empty()) {
    auto saved = ReadFileLimited(VerdictFile(), 4096);
    if (saved && *saved == key) return true;
  }
  if (!vmm::ProbeHost().linux_direct()) return false;
  if (!key.empty() && EnsureRunDir()) {
    (void)WriteFileAtomic(VerdictFile(), key);  // only a cache: failing to write is fine
  }
  return true;
}

Result<void> RequireLinuxGuests(const std::string& lab_command) {
  if (LinuxGuestsRunHere()) return {};
  return Err(
      ErrorCode::kUnsupported,
      "this host's KVM cannot run Linux guests (see `uvm doctor`); run uvm inside the lab: `" +
          lab_command + "`");
}

}  // namespace uvm::runtime
