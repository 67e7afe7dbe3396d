#include "cli/run_words.h"

#include <cstddef>

namespace uvm::cli {

std::vector<std::string> SplitRunCommand(const Command& root, const Command& run_cmd,
                                         std::vector<std::string>& args) {
  auto takes_value = [](const Command& scope, const std::string& word) {
    if (word.find('=') != std::string::npos) return false;  // --opt=value
    if (word.size() > 2 && word[1] != '-') return false;    // -eK=V style, value attached
    return scope.TakesValue(word);
  };
  // Global options (and their values) come first, then the subcommand's name.
  size_t i = 0;
  while (i < args.size() && args[i] != run_cmd.name()) {
    if (args[i].size() < 2 || args[i][0] != '-') return {};  // another subcommand
    i += takes_value(root, args[i]) ? 2 : 1;
  }
  for (++i; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word == "--") {
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
      break;  // the next word is IMAGE
    }
    if (word.size() > 1 && word[0] == '-') {
      if (takes_value(run_cmd, word)) ++i;
      continue;
    }
    break;  // IMAGE
  }
  if (i >= args.size()) return {};
  std::vector<std::string> command(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
  args.resize(i + 1);
  if (!command.empty() && command.front() == "--") command.erase(command.begin());
  return command;
}

}  // namespace uvm::cli
