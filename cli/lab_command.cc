// `uvm lab [--] CMD [ARG...]`: CMD inside the hardware-virtualization lab (lab/runner.h).
#include "cli/command.h"
#include "lab/runner.h"

namespace uvm::cli {

void RegisterLabCommand(CommandTable& table) {
  auto o = std::make_shared<lab::LabOptions>();
  auto cmd = table.root.Sub("lab", "Run CMD inside the hardware-virtualization lab");
  cmd.Option("--memory", o->memory_mib, "the lab's RAM in MiB").ShowDefault();
  cmd.Option("--cpus", o->cpus, "the lab's vCPUs").ShowDefault();
  cmd.Option("--timeout", o->timeout_s,
             "seconds after which the lab is killed and the run fails (0: never)")
      .ShowDefault();
  cmd.Option("cmd", o->argv, "command and arguments").Required();
  cmd.PassRest();
  OnParsed(cmd, table, [o, &global = table.global] {
    o->verbose = global.verbose;
    return lab::RunInLab(*o);
  });
}

}  // namespace uvm::cli
