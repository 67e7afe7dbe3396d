// `uvm bench boot|exec|clone|io|restore`: the system benchmarks (bench/), side by side with QEMU's
// microvm machine. Each prints a table, or one JSON object with --json.
#include "bench/boot.h"
#include "bench/clone.h"
#include "bench/exec.h"
#include "bench/io.h"
#include "bench/restore.h"
#include "cli/command.h"

namespace uvm::cli {
namespace {

// --json is accepted on `uvm bench` itself too (`uvm bench --json boot`).
struct BenchFlags {
  bool json = false;
};

void AddJson(CLI::App* cmd, bool& json) {
  cmd->add_flag("--json", json, "one JSON object instead of a table");
}

void AddBoot(CLI::App* bench, CommandTable& table, std::shared_ptr<BenchFlags> flags) {
  auto o = std::make_shared<bench::BenchOptions>();
  auto* cmd = bench->add_subcommand("boot", "VMM start to guest init in user space");
  AddJson(cmd, o->json);
  cmd->add_option("--runs", o->runs, "repetitions per system")->capture_default_str();
  cmd->add_option("--kernel", o->kernel, "guest kernel (default: the built one)");
  cmd->add_option("--initrd", o->initrd, "initrd (default: the built bench init)");
  OnParsed(cmd, table, [o, flags] {
    o->json = o->json || flags->json;
    return bench::RunBenchBoot(*o);
  });
}

void AddExec(CLI::App* bench, CommandTable& table, std::shared_ptr<BenchFlags> flags) {
  auto o = std::make_shared<bench::BenchExecOptions>();
  auto* cmd = bench->add_subcommand(
      "exec", "uvm run (cold boot) to the container's first byte and exit, beside boot to init");
  AddJson(cmd, o->json);
  cmd->add_option("--runs", o->runs, "repetitions of each measurement")->capture_default_str();
  OnParsed(cmd, table, [o, flags] {
    o->json = o->json || flags->json;
    return bench::RunBenchExec(*o);
  });
}

void AddClone(CLI::App* bench, CommandTable& table, std::shared_ptr<BenchFlags> flags) {
  auto o = std::make_shared<bench::BenchCloneOptions>();
  auto* cmd = bench->add_subcommand(
      "clone", "uvm run as a template clone vs cold boot to first output; idle clone memory");
  AddJson(cmd, o->json);
  cmd->add_option("--runs", o->runs, "repetitions of each measurement")->capture_default_str();
  OnParsed(cmd, table, [o, flags] {
    o->json = o->json || flags->json;
    return bench::RunBenchClone(*o);
  });
}

void AddIo(CLI::App* bench, CommandTable& table, std::shared_ptr<BenchFlags> flags) {
  auto o = std::make_shared<bench::IoBenchOptions>();
  auto* cmd = bench->add_subcommand("io", "block, vsock and net throughput and VMM CPU per GiB");
  AddJson(cmd, o->json);
  cmd->add_option("--runs", o->runs, "runs per system")->capture_default_str();
  cmd->add_option("--kernel", o->kernel, "guest kernel (default: the built one)");
  cmd->add_option("--initrd", o->initrd, "initrd (default: the built test init)");
  cmd->add_option("--dir", o->dir, "where the disk image and sockets go")->capture_default_str();
  cmd->add_option("--mib", o->mib, "sequential MiB and random span")->capture_default_str();
  cmd->add_option("--secs", o->secs, "seconds per random phase")->capture_default_str();
  cmd->add_option("--threads", o->threads, "random-I/O requests in flight")->capture_default_str();
  cmd->add_option("--vsock-mib", o->vsock_mib, "vsock MiB each way")->capture_default_str();
  cmd->add_option("--net-mib", o->net_mib,
                  "TCP MiB each way over a tap in a network namespace (needs root; 0: skip)")
      ->capture_default_str();
  OnParsed(cmd, table, [o, flags] {
    o->json = o->json || flags->json;
    return bench::RunBenchIo(*o);
  });
}

void AddRestore(CLI::App* bench, CommandTable& table, std::shared_ptr<BenchFlags> flags) {
  auto o = std::make_shared<bench::BenchRestoreOptions>();
  auto* cmd = bench->add_subcommand(
      "restore", "snapshot restore latency and clones/s, directly on /dev/kvm (tiny guest)");
  AddJson(cmd, o->json);
  cmd->add_option("--runs", o->runs, "restores measured")->capture_default_str();
  cmd->add_option("--memory", o->memory_mib, "guest RAM in MiB")->capture_default_str();
  cmd->add_option("--pool", o->pool, "pre-created empty VMs")->capture_default_str();
  OnParsed(cmd, table, [o, flags] {
    o->json = o->json || flags->json;
    return bench::RunBenchRestore(*o);
  });
}

}  // namespace

void RegisterBenchCommand(CommandTable& table) {
  auto flags = std::make_shared<BenchFlags>();
  auto* bench = table.app.add_subcommand("bench", "Measure uvm side by side with QEMU microvm");
  bench->require_subcommand(1);
  AddJson(bench, flags->json);
  AddBoot(bench, table, flags);
  AddIo(bench, table, flags);
  AddExec(bench, table, flags);
  AddClone(bench, table, flags);
  AddRestore(bench, table, flags);
}

}  // namespace uvm::cli
