// What uvm-runtime keeps of a VM-isolated container between its commands (ROOT/vm/ID/state.json),
// and the runtime-spec state `state` prints. The container's process on the host is its keeper
// (vm_runtime.h); whether it still lives decides the status, its start time guards against a
// reused pid.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace uvm::oci {

struct VmContainerRecord {
  std::string id;
  std::string bundle;      // absolute
  std::string created;     // RFC 3339
  int64_t pid = 0;         // the keeper
  uint64_t pid_start = 0;  // its start time (/proc/PID/stat field 22)
  std::map<std::string, std::string> annotations;
};

std::string RecordJson(const VmContainerRecord& record);
Result<VmContainerRecord> ParseRecord(std::string_view text);

enum class VmStatus { kCreated, kRunning, kPaused, kStopped };
const char* VmStatusName(VmStatus status);

// The runtime-spec state: ociVersion, id, status, pid (0 once stopped), bundle, created,
// annotations.
std::string StateJson(const VmContainerRecord& record, VmStatus status);
// The same with a status of the spec's that `state` never shows: "creating", which hooks get in
// create.
std::string StateJsonAs(const VmContainerRecord& record, const std::string& status);

// Field 22 of /proc/PID/stat, if the process exists and is not a zombie.
std::optional<uint64_t> LiveProcessStart(int64_t pid);
// The same from a stat line (tests).
std::optional<uint64_t> LiveProcessStartFromStat(std::string_view stat_line);

// `crun ps --format json`'s answer: a JSON array of pids (at most 65536 of them).
Result<std::vector<int64_t>> ParseJsonArrayOfInts(std::string_view text);

// A signal as `kill` takes it: a number, or a name with or without SIG (KILL, SIGKILL, 9).
std::optional<int> ParseSignal(const std::string& word);

}  // namespace uvm::oci
