// `uvm-runtime`'s command line, which is runc's: global flags, a command, the command's own flags
// and operands. Engines (podman through conmon, containerd's runc shim) build it exactly as for
// runc, so it is parsed as runc's parser (Go's flag package under urfave/cli) reads it: `-flag` and
// `--flag` alike, values as `--flag value` or `--flag=value`, flags before operands. Only as much
// is understood as routing a command needs; the command's own flags travel on untouched.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace uvm::oci {

// Where a container runs: in a cloned utility VM, or as host processes under the host's runc.
enum class Isolation { kVm, kProcess };

std::optional<Isolation> ParseIsolation(std::string_view word);

// Whether `word` is one of `words` (command and flag names).
bool OneOf(const std::string& word, std::initializer_list<const char*> words);
const char* IsolationName(Isolation isolation);

inline constexpr char kDefaultRoot[] = "/run/uvm-runtime";
inline constexpr char kDefaultUvmRoot[] = "/var/lib/uvm";
inline constexpr char kIsolationAnnotation[] = "io.uvm.isolation";

struct RuntimeArgs {
  std::string root = kDefaultRoot;  // --root: uvm-runtime's state
  std::string log_file;             // --log: where errors go besides stderr (engines read it)
  std::string log_format = "text";  // --log-format text|json
  // uvm's own global flags, never handed to runc.
  std::optional<Isolation> isolation;  // --isolation (a bundle's annotation takes precedence)
  std::string process_runtime;         // --process-runtime (default: runc on PATH)
  // --uvm-root: uvm's state (templates, the pool); "" when not given (the front end then takes
  // $UVM_ROOT, else kDefaultUvmRoot: an engine like containerd passes its runtime no flags of
  // uvm's, but the daemon's environment reaches it).
  std::string uvm_root;
  // runc's global flags as given (--debug, --log, --log-format, --systemd-cgroup), handed on to
  // the process runtime with every command; --root is not among them (uvm gives runc its own).
  std::vector<std::string> runc_globals;
  bool version = false;                   // -v/--version
  std::string command;                    // "create", "state", ...; empty with --version
  std::vector<std::string> command_args;  // everything after the command, as given
};

// Fails on an unknown global flag, a missing value, a bad --isolation or --log-format, or no
// command (unless --version).
Result<RuntimeArgs> ParseRuntimeArgs(const std::vector<std::string>& args);

// The container ID `command` names: its first operand, after its flags and their values as
// runc's flag definitions have them. Empty if the command has none.
std::string ContainerId(const std::string& command, const std::vector<std::string>& args);

// A command's own flags and operands, read as runc reads them: `values` holds each flag that
// takes a value (by its long name, without dashes: `-b` is `bundle`; the last one wins, `env`
// style flags keep every value in `lists`), `bools` each boolean flag set.
struct CommandLine {
  std::map<std::string, std::string> values;
  std::map<std::string, std::vector<std::string>> lists;
  std::set<std::string> bools;
  std::vector<std::string> operands;
  bool Has(const std::string& name) const { return bools.count(name) > 0; }
  std::string Value(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::string() : it->second;
  }
};
Result<CommandLine> ParseCommandLine(const std::string& command,
                                     const std::vector<std::string>& args);

// The bundle of a create or run: --bundle/-b, or the current directory.
std::string BundleDir(const std::vector<std::string>& args);

}  // namespace uvm::oci
