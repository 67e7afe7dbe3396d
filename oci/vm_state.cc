#include "oci/vm_state.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/unique_fd.h"

namespace uvm::oci {

using nlohmann::json;

std::string RecordJson(const VmContainerRecord& r) {
  json j = {{"id", r.id},   {"bundle", r.bundle},       {"created", r.created},
            {"pid", r.pid}, {"pid_start", r.pid_start}, {"annotations", r.annotations}};
  return j.dump();
}

Result<VmContainerRecord> ParseRecord(std::string_view text) {
  UVM_TRY(json j, ParseJsonObject(text, "container state"));
  VmContainerRecord r;
  UVM_TRY(r.id, ReqString(j, "id", "container state"));
  UVM_TRY(r.bundle, ReqString(j, "bundle", "container state"));
  UVM_TRY(r.created, ReqString(j, "created", "container state"));
  UVM_TRY(r.pid, ReqIntInRange(j, "pid", 1, INT32_MAX, "container state"));
  UVM_TRY(int64_t start, ReqIntInRange(j, "pid_start", 0, INT64_MAX, "container state"));
  r.pid_start = static_cast<uint64_t>(start);
  UVM_TRY(json annotations, OptObject(j, "annotations", "container state"));
  for (const auto& [key, value] : annotations.items()) {
    if (value.is_string()) r.annotations[key] = value.get<std::string>();
  }
  return r;
}

const char* VmStatusName(VmStatus status) {
  switch (status) {
    case VmStatus::kCreated:
      return "created";
    case VmStatus::kRunning:
      return "running";
    case VmStatus::kPaused:
      return "paused";
    case VmStatus::kStopped:
      return "stopped";
  }
  return "unknown";
}

std::string StateJson(const VmContainerRecord& r, VmStatus status) {
  return StateJsonAs(r, VmStatusName(status));
}

std::string StateJsonAs(const VmContainerRecord& r, const std::string& status) {
  json j = {{"ociVersion", "1.0.2"},
            {"id", r.id},
            {"status", status},
            {"pid", status == "stopped" ? 0 : r.pid},
            {"bundle", r.bundle},
            {"rootfs", ""},
            {"created", r.created},
            {"owner", ""},
            {"annotations", r.annotations}};
  return j.dump(2);
}

std::optional<uint64_t> LiveProcessStartFromStat(std::string_view line) {
  // "PID (COMM) STATE ..." where COMM may hold anything, ')' included: fields follow the last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::vector<std::string> fields;
  size_t i = close + 1;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t end = line.find(' ', i);
    if (end == std::string_view::npos) end = line.size();
    if (end > i) fields.emplace_back(line.substr(i, end - i));
    i = end;
  }
  // fields[0] is field 3 (the state), so field 22 is fields[19].
  if (fields.size() < 20 || fields[0] == "Z" || fields[0] == "X") return std::nullopt;
  const std::string& start = fields[19];
  if (start.empty() || !std::all_of(start.begin(), start.end(), ::isdigit)) return std::nullopt;
  return std::stoull(start);
}

std::optional<uint64_t> LiveProcessStart(int64_t pid) {
  // A /proc file has no size to read by: one read of a buffer that holds any stat line.
  UniqueFd fd(::open(("/proc/" + std::to_string(pid) + "/stat").c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  char buf[4096];
  const ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n <= 0) return std::nullopt;
  return LiveProcessStartFromStat(std::string_view(buf, static_cast<size_t>(n)));
}

Result<std::vector<int64_t>> ParseJsonArrayOfInts(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return Err("the VM's answer is not a list of pids");
  if (j.size() > 65536) return Err("the VM's answer lists too many pids");
  std::vector<int64_t> out;
  for (const json& v : j) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0) return Err("the VM's answer has a bad pid");
    out.push_back(v.get<int64_t>());
  }
  return out;
}

std::optional<int> ParseSignal(const std::string& word) {
  if (word.empty()) return std::nullopt;
  if (std::all_of(word.begin(), word.end(), ::isdigit)) {
    if (word.size() > 3) return std::nullopt;
    const int n = std::stoi(word);
    if (n < 0 || n > SIGRTMAX) return std::nullopt;
    return n;
  }
  std::string name = word;
  std::transform(name.begin(), name.end(), name.begin(), ::toupper);
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  // glibc's names (sigabbrev_np), the ones kill(1) and runc take.
  for (int signo = 1; signo < SIGRTMIN; ++signo) {
    const char* known = sigabbrev_np(signo);
    if (known && name == known) return signo;
  }
  return std::nullopt;
}

}  // namespace uvm::oci
