#include "oci/runtime_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/quoted.h"

namespace uvm::oci {

std::string FormatLogLine(const std::string& format, const std::string& level,
                          const std::string& message, const std::string& time) {
  if (format == "json") {
    nlohmann::json line = {{"level", level}, {"msg", message}, {"time", time}};
    return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return "time=" + Quoted(time, std::string::npos) + " level=" + level +
         " msg=" + Quoted(message, std::string::npos);
}

std::string NowRfc3339() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

void LogLine(const RuntimeArgs& args, const std::string& level, const std::string& message) {
  if (args.log_file.empty()) return;
  const int fd = ::open(args.log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const std::string line = FormatLogLine(args.log_format, level, message, NowRfc3339()) + "\n";
  (void)!::write(fd, line.data(), line.size());
  ::close(fd);
}

void ReportError(const RuntimeArgs& args, const std::string& message) {
  std::fprintf(stderr, "uvm-runtime: %s\n", message.c_str());
  LogLine(args, "error", message);
}

}  // namespace uvm::oci
