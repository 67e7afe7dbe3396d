// `uvm`: a table of commands (cli/command.h); each registers its own flags and runs through the
// runtime, bench and lab libraries. Every failure of uvm itself exits 125 with one line on stderr.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/log.h"
#include "cli/command.h"
#include "cli/exit_status.h"
#include "cli/runtime_main.h"

namespace {

constexpr void (*kCommands[])(uvm::cli::CommandTable&) = {
    uvm::cli::RegisterBootCommand,  uvm::cli::RegisterSnapshotCommand,
    uvm::cli::RegisterRunCommand,   uvm::cli::RegisterDoctorCommand,
    uvm::cli::RegisterLabCommand,   uvm::cli::RegisterBenchCommand,
    uvm::cli::RegisterImageCommand, uvm::cli::RegisterTemplateCommand,
    uvm::cli::RegisterPoolCommand,
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "uvm: %s\n", message.c_str());
  return uvm::cli::kExitUvmError;
}

}  // namespace

int main(int argc, char** argv) {
  // One binary, two command lines: started as uvm-runtime it is an OCI runtime (runc's flags).
  const char* name = argc > 0 ? std::strrchr(argv[0], '/') : nullptr;
  name = name ? name + 1 : (argc > 0 ? argv[0] : "");
  if (std::strcmp(name, "uvm-runtime") == 0) return uvm::cli::RuntimeMain(argc, argv);

  uvm::cli::CommandLine line("uvm: containers in lightweight utility VMs on Linux/KVM");
  uvm::cli::Command& root = line.root();
  root.NeedsSubcommand();
  uvm::cli::GlobalOptions global;
  root.Flag("-v,--verbose", global.verbose, "Log what uvm does (debug level)");
  root.Option("--root", global.root, "where uvm keeps its state (images, templates)").ShowDefault();
  uvm::cli::CommandAction action;
  std::vector<uvm::cli::ArgumentRewrite> rewrites;
  uvm::cli::CommandTable table{root, global, action, rewrites};
  for (auto add : kCommands) add(table);

  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& rewrite : rewrites) rewrite(args);
  const uvm::cli::CommandLine::Outcome parsed = line.Parse(std::move(args));
  if (!parsed.error.empty()) return Fail(parsed.error);
  if (!parsed.run) return parsed.exit_code;
  if (global.verbose) uvm::SetLogLevel(uvm::LogLevel::kDebug);
  uvm::Result<int> result = action ? action() : uvm::Err("no command");
  if (!result) return Fail(result.error().message);
  return *result;
}
