// A stand-alone driver for cli/lab_runner.cc, so the lab can be built and tested without the rest
// of uvm:  uvm_lab_runner_main [-v] [--images DIR] [--cpus N] [--memory MiB] [--] CMD [ARG...]
// UVM_IMAGES_DIR in the environment is the default for --images. Exits with the command's status,
// or 125 (like `uvm`) when the lab itself fails.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/lab_runner.h"

int main(int argc, char** argv) {
  uvm::cli::LabOptions options;
  if (const char* dir = getenv("UVM_IMAGES_DIR")) options.images_dir = dir;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "-v") {
      options.verbose = true;
    } else if ((a == "--images" || a == "--cpus" || a == "--memory") && i + 1 < argc) {
      std::string v = argv[++i];
      if (a == "--images") options.images_dir = v;
      if (a == "--cpus") options.cpus = std::stoi(v);
      if (a == "--memory") options.memory_mib = std::stoull(v);
    } else {
      break;
    }
  }
  options.argv.assign(argv + i, argv + argc);
  if (options.argv.empty()) {
    fprintf(stderr, "usage: %s [-v] [--images DIR] [--cpus N] [--memory MiB] [--] CMD [ARG...]\n",
            argv[0]);
    return 125;
  }
  auto status = uvm::cli::RunInLab(options);
  if (!status) {
    fprintf(stderr, "uvm %s\n", status.error().message.c_str());
    return 125;
  }
  return *status;
}
