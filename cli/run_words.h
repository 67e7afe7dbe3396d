// `uvm [GLOBAL] run [OPTIONS] IMAGE [--] CMD [ARG...]`: the words after IMAGE are the container's
// command, verbatim, its own options included (`sh -c ...`, `ls -l`), as in docker. The parser
// has no "stop at the first positional" mode that keeps such words intact, so they are split off
// before the parse.
#pragma once

#include <string>
#include <vector>

#include "cli/flags.h"

namespace uvm::cli {

// Splits `args` (argv without argv[0]) of the command line whose root is `root` and whose run
// command is `run`: `args` keeps what the parser is to see (up to IMAGE, a `--` before IMAGE
// dropped) and the command is returned (a `--` right after IMAGE dropped). Nothing is split off
// when the words do not name `run`.
std::vector<std::string> SplitRunCommand(const Command& root, const Command& run,
                                         std::vector<std::string>& args);

}  // namespace uvm::cli
