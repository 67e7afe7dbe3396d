// Errors as engines read them. conmon and containerd's shim give the runtime `--log FILE
// --log-format json` and, when a command fails, show the last error line of FILE to the user; runc
// writes logrus lines there. uvm-runtime writes the same shape: JSON
// {"level":"error","msg":..,"time":..} or logrus text (time="..." level=error msg="..."), one line
// per message, appended.
#pragma once

#include <string>

#include "oci/runtime_args.h"

namespace uvm::oci {

// One log line (without the newline); `time` is RFC 3339 (UTC).
std::string FormatLogLine(const std::string& format, const std::string& level,
                          const std::string& message, const std::string& time);

// The current time as RFC 3339, UTC, to the second.
std::string NowRfc3339();

// With --log, a line of `level` ("warning", "error") to the log file; nothing otherwise.
void LogLine(const RuntimeArgs& args, const std::string& level, const std::string& message);

// Writes "uvm-runtime: MESSAGE" on stderr and, with --log, an error line to the log file.
void ReportError(const RuntimeArgs& args, const std::string& message);

}  // namespace uvm::oci
