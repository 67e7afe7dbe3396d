#include "oci/runtime_args.h"

#include <algorithm>
#include <initializer_list>

#include "base/quoted.h"

namespace uvm::oci {
namespace {

// A flag word split as Go's flag package splits it: one or two dashes, the name, an optional
// `=value`. Not a flag: an operand, "-" alone, or "--" (the end of the flags).
struct FlagWord {
  std::string name;
  std::optional<std::string> value;
};

std::optional<FlagWord> SplitFlag(const std::string& word) {
  if (word.size() < 2 || word[0] != '-' || word == "--") return std::nullopt;
  std::string_view rest(word);
  rest.remove_prefix(rest[1] == '-' ? 2 : 1);
  FlagWord flag;
  const size_t eq = rest.find('=');
  flag.name = std::string(rest.substr(0, eq));
  if (eq != std::string_view::npos) flag.value = std::string(rest.substr(eq + 1));
  return flag;
}

// The value of a flag that takes one: after `=`, else the next word (`i` moves past it).
Result<std::string> FlagValue(const FlagWord& flag, const std::vector<std::string>& args,
                              size_t& i) {
  if (flag.value) return *flag.value;
  if (i + 1 < args.size()) return args[++i];
  return Err("flag " + Quoted("--" + flag.name) + " needs a value");
}

// runc 1.1's flags that take a value, per command (its bool flags need no entry: they never
// take the next word).
bool TakesValue(const std::string& command, const std::string& flag) {
  if (command == "create" || command == "run") {
    return OneOf(flag, {"bundle", "b", "console-socket", "pid-file", "preserve-fds"});
  }
  if (command == "exec") {
    return OneOf(flag, {"console-socket", "cwd", "env", "e", "process", "p", "pid-file",
                        "process-label", "l", "apparmor", "user", "u", "additional-gids", "g",
                        "cap", "c", "preserve-fds", "cgroup"});
  }
  if (command == "ps" || command == "list") return OneOf(flag, {"format", "f"});
  if (command == "events") return flag == "interval";
  if (command == "update") return !OneOf(flag, {"help", "h"});  // every update flag has a value
  return false;
}

// runc's long name for a command's one-letter flag (-b is --bundle for create, -f --force for
// delete but --format for ps); other names stay as they are.
std::string LongFlagName(const std::string& command, const std::string& name) {
  static const struct {
    const char* command;
    const char* short_name;
    const char* long_name;
  } kAliases[] = {
      {"create", "b", "bundle"}, {"run", "b", "bundle"},           {"run", "d", "detach"},
      {"exec", "e", "env"},      {"exec", "p", "process"},         {"exec", "l", "process-label"},
      {"exec", "u", "user"},     {"exec", "g", "additional-gids"}, {"exec", "c", "cap"},
      {"exec", "t", "tty"},      {"exec", "d", "detach"},          {"ps", "f", "format"},
      {"list", "f", "format"},   {"list", "q", "quiet"},           {"delete", "f", "force"},
      {"kill", "a", "all"},      {"update", "r", "resources"}};
  for (const auto& alias : kAliases) {
    if (command == alias.command && name == alias.short_name) return alias.long_name;
  }
  return name;
}

}  // namespace

bool OneOf(const std::string& word, std::initializer_list<const char*> words) {
  return std::any_of(words.begin(), words.end(), [&](const char* w) { return word == w; });
}

std::optional<Isolation> ParseIsolation(std::string_view word) {
  if (word == "vm") return Isolation::kVm;
  if (word == "process") return Isolation::kProcess;
  return std::nullopt;
}

const char* IsolationName(Isolation isolation) {
  return isolation == Isolation::kVm ? "vm" : "process";
}

Result<RuntimeArgs> ParseRuntimeArgs(const std::vector<std::string>& args) {
  RuntimeArgs out;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const auto flag = SplitFlag(args[i]);
    if (!flag) {
      if (args[i] == "--") ++i;
      break;
    }
    const std::string& name = flag->name;
    const bool is_bool = OneOf(name, {"debug", "systemd-cgroup", "version", "v"});
    const bool is_value = OneOf(
        name, {"root", "log", "log-format", "isolation", "process-runtime", "uvm-root", "criu"});
    if (!is_bool && !is_value) {
      return Err("unknown global flag " + Quoted(args[i]) +
                 " (uvm-runtime takes runc's: --root, --log, " +
                 "--log-format, --debug, --systemd-cgroup; and its own --isolation vm|process, " +
                 "--process-runtime PATH, --uvm-root DIR)");
    }
    if (is_bool) {
      if (flag->value && *flag->value != "true" && *flag->value != "false") {
        return Err("flag " + name + " takes true or false, not " + Quoted(*flag->value));
      }
      const bool on = !flag->value || *flag->value == "true";
      if (name == "version" || name == "v") {
        out.version = on;
      } else {
        out.runc_globals.push_back(args[i]);  // --debug and --systemd-cgroup: runc's business
      }
      continue;
    }
    UVM_TRY(std::string value, FlagValue(*flag, args, i));
    if (name == "root") {
      if (value.empty()) return Err("--root needs a directory");
      out.root = value;
    } else if (name == "log") {
      out.log_file = value;
      out.runc_globals.insert(out.runc_globals.end(), {"--log", value});
    } else if (name == "log-format") {
      if (value != "text" && value != "json") {
        return Err("--log-format " + Quoted(value) + ": text or json");
      }
      out.log_format = value;
      out.runc_globals.insert(out.runc_globals.end(), {"--log-format", value});
    } else if (name == "isolation") {
      out.isolation = ParseIsolation(value);
      if (!out.isolation) return Err("--isolation " + Quoted(value) + ": vm or process");
    } else if (name == "process-runtime") {
      out.process_runtime = value;
    } else if (name == "uvm-root") {
      if (value.empty()) return Err("--uvm-root needs a directory");
      out.uvm_root = value;
    } else {  // --criu: checkpointing is not offered; accepted as runc accepts it, and unused
      out.runc_globals.insert(out.runc_globals.end(), {"--criu", value});
    }
  }
  if (i < args.size()) {
    out.command = args[i];
    out.command_args.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
  }
  if (out.command.empty() && !out.version)
    return Err("no command given (runc's commands: create, start, run, state, kill, delete, ...)");
  return out;
}

std::string ContainerId(const std::string& command, const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") return i + 1 < args.size() ? args[i + 1] : std::string();
    const auto flag = SplitFlag(args[i]);
    if (!flag) return args[i];
    if (!flag->value && TakesValue(command, flag->name)) ++i;
  }
  return {};
}

Result<CommandLine> ParseCommandLine(const std::string& command,
                                     const std::vector<std::string>& args) {
  CommandLine out;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    if (args[i] == "--") {
      ++i;
      break;
    }
    const auto flag = SplitFlag(args[i]);
    if (!flag) break;
    const std::string name = LongFlagName(command, flag->name);
    if (TakesValue(command, flag->name)) {
      UVM_TRY(std::string value, FlagValue(*flag, args, i));
      out.values[name] = value;
      out.lists[name].push_back(value);
    } else if (!flag->value || *flag->value == "true") {
      out.bools.insert(name);
    } else if (*flag->value != "false") {
      return Err("flag " + Quoted("--" + flag->name) + " takes true or false, not " +
                 Quoted(*flag->value));
    }
  }
  out.operands.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return out;
}

std::string BundleDir(const std::vector<std::string>& args) {
  std::string bundle = ".";
  for (size_t i = 0; i < args.size(); ++i) {
    const auto flag = SplitFlag(args[i]);
    if (!flag) break;
    const bool takes_value = TakesValue("create", flag->name);
    if (flag->name == "bundle" || flag->name == "b") {
      if (flag->value) {
        bundle = *flag->value;
      } else if (i + 1 < args.size()) {
        bundle = args[i + 1];
      }
    }
    if (takes_value && !flag->value) ++i;
  }
  return bundle.empty() ? "." : bundle;
}

}  // namespace uvm::oci
