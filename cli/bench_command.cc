// `uvm bench boot|exec|clone|io|restore`: the system benchmarks (bench/), side by side with QEMU's
// microvm machine. Each prints a table, or one JSON object with --json.
#include "bench/boot.h"
#include "bench/clone.h"
#include "bench/engine.h"
#include "bench/exec.h"
#include "bench/fs.h"
#include "bench/io.h"
#include "bench/restore.h"
#include "cli/command.h"

namespace uvm::cli {
namespace {

// --json is accepted on `uvm bench` itself too (`uvm bench --json boot`).
struct BenchFlags {
  bool json = false;
};

void AddJson(Command& cmd, bool& json) {
  cmd.Flag("--json", json, "one JSON object instead of a table");
}

void AddBoot(Command& bench, CommandTable& table, std::shared_ptr<BenchFlags> flags) {
  auto o = std::make_shared<bench::BenchOptions>();
  auto cmd = bench.Sub("boot", "VMM start to guest init in user space");
  AddJson(cmd, o->json);
  cmd.Option("--runs", o->runs, "repetitions per system").ShowDefault();
  cmd.Option("--kernel", o->kernel, "guest kernel (default: the built one)");
  cmd.Option("--initrd", o->initrd, "initrd (default: the built bench init)");
  OnParsed(cmd, table, [o, flags] {
    o->json = o->json || flags->json;
    return bench::RunBenchBoot(*o);
  });
}

void AddExec(Command& bench, CommandTable& table, std::shared_ptr<BenchFlags> flags) {
  auto o = std::make_shared<bench::BenchExecOptions>();
  auto cmd = bench.Sub(
      "exec", "uvm run (cold boot) to the container's first byte and exit, beside boot to init");
  AddJson(cmd, o->json);
  cmd.Option("--runs", o->runs, "repetitions of each measurement").ShowDefault();
  OnParsed(cmd, table, [o, flags] {
    o->json = o->json || flags->json;
    return bench::RunBenchExec(*o);
  });
}

void AddClone(Command& bench, CommandTable& table, std::shared_ptr<BenchFlags> flags) {
  auto o = std::make_shared<bench::BenchCloneOptions>();
  auto cmd = bench.Sub(
      "clone", "uvm run as a template clone vs cold boot to first output; idle clone memory");
  AddJson(cmd, o->json);
  cmd.Option("--runs", o->runs, "repetitions of each measurement").ShowDefault();
  OnParsed(cmd, table, [o, flags] {
    o->json = o->json || flags->json;
    return bench::RunBenchClone(*o);
  });
}

void AddEngine(Command& bench, CommandTable& table, std::shared_ptr<BenchFlags> flags) {
  auto o = std::make_shared<bench::BenchEngineOptions>();
  auto cmd =
      bench.Sub("engine", "podman run under runc and under uvm-runtime (process, VM, pooled VM)");
  AddJson(cmd, o->json);
  cmd.Option("--runs", o->runs, "interleaved rounds measured").ShowDefault();
  OnParsed(cmd, table, [o, flags] {
    o->json = o->json || flags->json;
    return bench::RunBenchEngine(*o);
  });
}

void AddIo(Command& bench, CommandTable& table, std::shared_ptr<BenchFlags> flags) {
  auto o = std::make_shared<bench::IoBenchOptions>();
  auto cmd = bench.Sub("io", "block, vsock and net throughput and VMM CPU per GiB");
  AddJson(cmd, o->json);
  cmd.Option("--runs", o->runs, "runs per system").ShowDefault();
  cmd.Option("--kernel", o->kernel, "guest kernel (default: the built one)");
  cmd.Option("--initrd", o->initrd, "initrd (default: the built test init)");
  cmd.Option("--dir", o->dir, "where the disk image and sockets go").ShowDefault();
  cmd.Option("--mib", o->mib, "sequential MiB and random span").ShowDefault();
  cmd.Option("--secs", o->secs, "seconds per random phase").ShowDefault();
  cmd.Option("--threads", o->threads, "random-I/O requests in flight").ShowDefault();
  cmd.Option("--vsock-mib", o->vsock_mib, "vsock MiB each way").ShowDefault();
  cmd.Option("--net-mib", o->net_mib,
             "TCP MiB each way over a tap in a network namespace (needs root; 0: skip)")
      .ShowDefault();
  OnParsed(cmd, table, [o, flags] {
    o->json = o->json || flags->json;
    return bench::RunBenchIo(*o);
  });
}

void AddFs(Command& bench, CommandTable& table, std::shared_ptr<BenchFlags> flags) {
  auto o = std::make_shared<bench::FsBenchOptions>();
  auto cmd = bench.Sub("fs", "shared-directory throughput vs virtiofsd and 9p, VMM CPU per figure");
  AddJson(cmd, o->json);
  cmd.Option("--runs", o->runs, "runs per system").ShowDefault();
  cmd.Option("--kernel", o->kernel, "guest kernel (default: the built one)");
  cmd.Option("--initrd", o->initrd, "initrd (default: the built test init)");
  cmd.Option("--dir", o->dir, "where the shared directory and sockets go").ShowDefault();
  cmd.Option("--tree", o->tree, "tar of the tree to walk (default: the built Debian rootfs)");
  cmd.Option("--mib", o->mib, "sequential MiB").ShowDefault();
  cmd.Option("--files", o->files, "files of the small-file phase").ShowDefault();
  cmd.Option("--only", o->only, "the systems measured, comma-separated").ShowDefault();
  OnParsed(cmd, table, [o, flags] {
    o->json = o->json || flags->json;
    return bench::RunBenchFs(*o);
  });
}

void AddRestore(Command& bench, CommandTable& table, std::shared_ptr<BenchFlags> flags) {
  auto o = std::make_shared<bench::BenchRestoreOptions>();
  auto cmd = bench.Sub("restore",
                       "snapshot restore latency and clones/s, directly on /dev/kvm (tiny guest)");
  AddJson(cmd, o->json);
  cmd.Option("--runs", o->runs, "restores measured").ShowDefault();
  cmd.Option("--memory", o->memory_mib, "guest RAM in MiB").ShowDefault();
  cmd.Option("--pool", o->pool, "pre-created empty VMs").ShowDefault();
  OnParsed(cmd, table, [o, flags] {
    o->json = o->json || flags->json;
    return bench::RunBenchRestore(*o);
  });
}

}  // namespace

void RegisterBenchCommand(CommandTable& table) {
  auto flags = std::make_shared<BenchFlags>();
  auto bench = table.root.Sub("bench", "Measure uvm side by side with QEMU microvm");
  bench.NeedsSubcommand();
  AddJson(bench, flags->json);
  AddBoot(bench, table, flags);
  AddIo(bench, table, flags);
  AddFs(bench, table, flags);
  AddExec(bench, table, flags);
  AddClone(bench, table, flags);
  AddEngine(bench, table, flags);
  AddRestore(bench, table, flags);
}

}  // namespace uvm::cli
