// `uvm`: a table of commands (cli/command.h); each registers its own flags and runs through the
// runtime, bench and lab libraries. Every failure of uvm itself exits 125 with one line on stderr.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "base/log.h"
#include "cli/command.h"
#include "cli/exit_status.h"

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
  CLI::App app{"uvm: containers in lightweight utility VMs on Linux/KVM"};
  app.require_subcommand(1);
  uvm::cli::GlobalOptions global;
  app.add_flag("-v,--verbose", global.verbose, "Log what uvm does (debug level)");
  app.add_option("--root", global.root, "where uvm keeps its state (images, templates)")
      ->capture_default_str();
  uvm::cli::CommandAction action;
  std::vector<uvm::cli::ArgumentRewrite> rewrites;
  uvm::cli::CommandTable table{app, global, action, rewrites};
  for (auto add : kCommands) add(table);

  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    for (const auto& rewrite : rewrites) rewrite(args);
    std::reverse(args.begin(), args.end());  // CLI11 takes the words last-first
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Fail(std::string(e.what()) + " (see `uvm --help`)");
  }
  if (global.verbose) uvm::SetLogLevel(uvm::LogLevel::kDebug);
  uvm::Result<int> result = action ? action() : uvm::Err("no command");
  if (!result) return Fail(result.error().message);
  return *result;
}
