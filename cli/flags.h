// The command line behind the command table: commands, their flags and the parse. A facade over
// CLI11, whose one large header is then compiled in cli/flags.cc alone rather than in every
// command's file (it cost about 6 s of compile time per file at -O2).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace uvm::cli {

// One command or subcommand and its flags. Cheap to copy: it names a command the CommandLine owns.
class Command {
 public:
  Command Sub(const std::string& name, const std::string& help);

  // An option (`-e,--env`, `--memory`) or, for a name without a dash, a positional argument. The
  // modifiers after it apply to it.
  Command& Option(const std::string& names, std::string& into, const std::string& help);
  Command& Option(const std::string& names, std::vector<std::string>& into,
                  const std::string& help);
  Command& Option(const std::string& names, int& into, const std::string& help);
  Command& Option(const std::string& names, uint64_t& into, const std::string& help);
  Command& Option(const std::string& names, uint32_t& into, const std::string& help);
  // A flag without a value; `--no-pool{false}` sets `into` to false.
  Command& Flag(const std::string& names, bool& into, const std::string& help);
  Command& Required();     // the last option must be given
  Command& ShowDefault();  // the last option's help shows its default

  Command& NeedsSubcommand();  // one of its subcommands must be given
  // Everything from the first word that is not one of its options on goes to its last positional
  // argument unparsed (`uvm lab CMD ARG...`).
  Command& PassRest();
  Command& Footer(const std::string& text);
  // `action` runs at the end of the parse if this command was given.
  Command& OnParsed(std::function<void()> action);

  // Whether `word` names an option of this command that takes a value (`-e`, `--memory`): for
  // splitting words before the parse (`uvm run IMAGE CMD...`).
  bool TakesValue(const std::string& word) const;
  std::string name() const;

 private:
  friend class CommandLine;
  explicit Command(CLI::App* app) : app_(app) {}
  CLI::App* app_;
  CLI::Option* last_ = nullptr;
};

class CommandLine {
 public:
  explicit CommandLine(const std::string& description);
  ~CommandLine();
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  Command& root() { return root_; }

  struct Outcome {
    bool run = false;   // parsed: run the command
    int exit_code = 0;  // otherwise: exit with this (help was printed)
    std::string error;  // or, non-empty: the words were wrong (one line)
  };
  // Parses `args` (argv without argv[0]), running the OnParsed actions of the commands given.
  Outcome Parse(std::vector<std::string> args);

 private:
  std::unique_ptr<CLI::App> app_;
  Command root_;
};

}  // namespace uvm::cli
