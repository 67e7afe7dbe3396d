// `uvm-runtime`: the same binary as `uvm`, started by that name (build/uvm-runtime is a link to
// build/uvm), speaking runc's command line so engines can use it as their OCI runtime.
#pragma once

namespace uvm::cli {

// Runs uvm-runtime's command line; returns the exit status (or does not return: a
// process-isolated container's command becomes the host's runc).
int RuntimeMain(int argc, char** argv);

}  // namespace uvm::cli
