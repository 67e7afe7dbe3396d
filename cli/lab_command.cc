// `uvm lab [--] CMD [ARG...]`: CMD inside the hardware-virtualization lab (lab/runner.h).
#include "cli/command.h"
#include "lab/runner.h"

namespace uvm::cli {

void RegisterLabCommand(CommandTable& table) {
  auto o = std::make_shared<lab::LabOptions>();
  auto* cmd = table.app.add_subcommand("lab", "Run CMD inside the hardware-virtualization lab");
  cmd->add_option("--memory", o->memory_mib, "the lab's RAM in MiB")->capture_default_str();
  cmd->add_option("--cpus", o->cpus, "the lab's vCPUs")->capture_default_str();
  cmd->add_option("--timeout", o->timeout_s,
                  "seconds after which the lab is killed and the run fails (0: never)")
      ->capture_default_str();
  cmd->add_option("cmd", o->argv, "command and arguments")->required();
  cmd->prefix_command();
  OnParsed(cmd, table, [o, &global = table.global] {
    o->verbose = global.verbose;
    return lab::RunInLab(*o);
  });
}

}  // namespace uvm::cli
