// The command table's types (kvmtool's kvm-cmd.c is the model): each command file has one
// Register* function that adds its subcommand and flags (cli/flags.h) and, once the command line
// names it, sets the action main() runs. main.cc only lists the commands.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "cli/flags.h"
#include "runtime/paths.h"

namespace uvm::cli {

struct GlobalOptions {
  bool verbose = false;
  std::string root = runtime::kDefaultStateRoot;  // --root: images, templates, the pool
};

// What the parsed command line runs: uvm's exit status, or an error (exit 125, one line).
using CommandAction = std::function<Result<int>()>;

// A rewrite of the words before they are parsed (`uvm run` keeps the container's command apart).
using ArgumentRewrite = std::function<void(std::vector<std::string>& args)>;

struct CommandTable {
  Command root;
  const GlobalOptions& global;  // filled in by the parse, read by the actions
  CommandAction& action;        // set by the callback of the subcommand that was given
  std::vector<ArgumentRewrite>& rewrites;
};

// Makes `run` (with the options bound) the action when `command` is the one given.
inline void OnParsed(Command& command, CommandTable& table, CommandAction run) {
  command.OnParsed([&action = table.action, run = std::move(run)] { action = run; });
}

// An action that runs `run` on `options` with their `root` taken from --root.
template <class Options>
CommandAction WithRoot(std::shared_ptr<Options> options, const GlobalOptions& global,
                       Result<int> (*run)(const Options&)) {
  return [options, &global, run] {
    options->root = global.root;
    return run(*options);
  };
}

// The commands, in the order `uvm --help` lists them.
void RegisterBootCommand(CommandTable& table);
void RegisterSnapshotCommand(CommandTable& table);
void RegisterRunCommand(CommandTable& table);
void RegisterDoctorCommand(CommandTable& table);
void RegisterLabCommand(CommandTable& table);
void RegisterBenchCommand(CommandTable& table);
void RegisterImageCommand(CommandTable& table);
void RegisterTemplateCommand(CommandTable& table);
void RegisterPoolCommand(CommandTable& table);

}  // namespace uvm::cli
