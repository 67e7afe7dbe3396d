// `uvm run IMAGE [--] CMD [ARG...]`: runs CMD from IMAGE inside a fresh utility VM and behaves
// like `docker run` (DESIGN.md §4): stdio and the exit code pass through, SIGINT/SIGTERM/SIGHUP
// go to the container process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace uvm::cli {

struct RunOptions {
  std::string root = "/var/lib/uvm";  // the image store (--root)
  std::string image;
  std::vector<std::string> command;  // replaces the image's Cmd; the Entrypoint stays
  std::vector<std::string> env;      // -e K=V, or -e K to copy K from uvm's environment
  std::string workdir;               // -w
  std::string user;                  // --user
  bool interactive = false;          // -i
  bool tty = false;                  // -t
  bool remove = false;               // --rm (a VM leaves nothing behind either way)
  uint64_t memory_mib = 256;
  int cpus = 1;
  std::string net = "none";
  std::string isolation = "vm";
  bool cold = false;
  bool pool = true;  // take a ready clone from `uvm pool` when one runs (--no-pool: never)
};

// Returns the container's exit status (128+n after signal n; 126/127 when the command cannot be
// run or is not found); an error for uvm's own failures (exit 125).
Result<int> RunContainer(const RunOptions& options);

}  // namespace uvm::cli
