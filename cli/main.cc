// uvm's command line (DESIGN.md §4). Each subcommand parses its flags into a plain options struct
// and hands it to a Run* function; every failure of uvm itself exits 125 with one line on stderr.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "base/log.h"
#include "bench/boot.h"
#include "bench/clone.h"
#include "bench/exec.h"
#include "bench/io.h"
#include "bench/restore.h"
#include "cli/boot_command.h"
#include "cli/doctor_command.h"
#include "cli/exit_codes.h"
#include "cli/image_command.h"
#include "cli/pool_command.h"
#include "cli/run_command.h"
#include "cli/snapshot_command.h"
#include "cli/template_command.h"
#include "lab/runner.h"
#include "runtime/paths.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "uvm: %s\n", message.c_str());
  return uvm::cli::kExitUvmError;
}

// `uvm [GLOBAL] run [OPTIONS] IMAGE [--] CMD [ARG...]`: everything after IMAGE is the container's
// command, verbatim, its own options included (`sh -c ...`, `ls -l`), as in docker. CLI11 has no
// "stop at the first positional" mode that keeps such words intact, so the words are split here:
// `args` keeps what CLI11 parses (up to IMAGE) and the command is returned.
std::vector<std::string> SplitRunCommand(CLI::App& app, CLI::App& run_cmd,
                                         std::vector<std::string>& args) {
  auto takes_value = [](CLI::App& scope, const std::string& word) {
    if (word.find('=') != std::string::npos) return false;  // --opt=value
    if (word.size() > 2 && word[1] != '-') return false;    // -eK=V style, value attached
    const CLI::Option* opt = scope.get_option_no_throw(word);
    return opt != nullptr && opt->get_items_expected_min() > 0;
  };
  // Global options (and their values) come first, then the subcommand's name.
  size_t i = 0;
  while (i < args.size() && args[i] != run_cmd.get_name()) {
    if (args[i].size() < 2 || args[i][0] != '-') return {};  // another subcommand
    i += takes_value(app, args[i]) ? 2 : 1;
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"uvm: containers in lightweight utility VMs on Linux/KVM"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log what uvm does (debug level)");
  std::string root = uvm::runtime::kDefaultStateRoot;
  app.add_option("--root", root, "where uvm keeps its state (images, templates)")
      ->capture_default_str();

  uvm::cli::BootOptions boot;
  auto* boot_cmd = app.add_subcommand("boot", "Boot a Linux kernel and relay its serial console");
  boot_cmd->add_option("--kernel", boot.kernel, "vmlinux (ELF) or bzImage")->required();
  boot_cmd->add_option("--initrd", boot.initrd, "initial ramdisk");
  boot_cmd->add_option(
      "--cmdline", boot.cmdline,
      "appended to the default command line: " + std::string(uvm::runtime::kBaseCmdline));
  boot_cmd->add_option("--disk", boot.disks, "PATH[,ro] (virtio-blk)");
  boot_cmd->add_option(
      "--net", boot.net_tap,
      "TAP[,mac=XX:XX:XX:XX:XX:XX]: a virtio-net device on this tap (created if missing)");
  boot_cmd->add_option("--vsock", boot.vsock_uds, "unix socket for the vsock device");
  boot_cmd->add_option("--api-sock", boot.api_sock,
                       "control socket: `uvm snapshot save --api-sock PATH DIR` saves the VM");
  boot_cmd->add_option("--memory", boot.memory_mib, "guest RAM in MiB")->capture_default_str();
  boot_cmd->add_option("--cpus", boot.cpus, "vCPUs (1-16)")->capture_default_str();

  uvm::cli::SnapshotSaveOptions snap_save;
  uvm::cli::SnapshotRestoreOptions snap_restore;
  auto* snapshot_cmd =
      app.add_subcommand("snapshot", "Save a running VM to a directory and resume it from there");
  snapshot_cmd->require_subcommand(1);
  auto* snapshot_save = snapshot_cmd->add_subcommand(
      "save", "Save the VM of `uvm boot --api-sock PATH` to DIR (the VM then ends)");
  snapshot_save->add_option("--api-sock", snap_save.api_sock, "the VM's control socket")
      ->required();
  snapshot_save->add_option("dir", snap_save.dir, "directory for `state` and `memory`")->required();
  auto* snapshot_restore = snapshot_cmd->add_subcommand(
      "restore", "Resume a saved VM and relay its console (devices as when it was saved)");
  snapshot_restore->add_option("dir", snap_restore.dir, "the snapshot directory")->required();
  snapshot_restore->add_option("--memory", snap_restore.memory_mib,
                               "guest RAM in MiB (default: the snapshot's)");
  snapshot_restore->add_option("--cpus", snap_restore.cpus, "vCPUs (default: the snapshot's)");
  snapshot_restore->add_option("--disk", snap_restore.disks, "PATH[,ro] (virtio-blk)");
  snapshot_restore->add_option("--net", snap_restore.net_tap, "TAP[,mac=XX:XX:XX:XX:XX:XX]");
  snapshot_restore->add_option("--vsock", snap_restore.vsock_uds,
                               "unix socket for the vsock device");
  snapshot_restore->add_option("--api-sock", snap_restore.api_sock,
                               "control socket, as for uvm boot");

  uvm::cli::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "Run a command from an image in a new utility VM");
  run_cmd->add_flag("--rm", run.remove, "remove the container when it exits (always true)");
  run_cmd->add_flag("-i,--interactive", run.interactive, "keep stdin open and pass it on");
  run_cmd->add_flag("-t,--tty", run.tty, "give the process a terminal");
  run_cmd->add_option("-e,--env", run.env, "K=V, or K to pass uvm's own K");
  run_cmd->add_option("-w,--workdir", run.workdir, "working directory inside the container");
  run_cmd->add_option("-u,--user", run.user, "user[:group] (names or numbers)");
  run_cmd->add_option("--memory", run.memory_mib, "the VM's RAM in MiB")->capture_default_str();
  run_cmd->add_option("--cpus", run.cpus, "the VM's vCPUs (1-16)")->capture_default_str();
  run_cmd->add_option("--net", run.net, "none")->capture_default_str();
  run_cmd->add_option("--isolation", run.isolation, "vm")->capture_default_str();
  run_cmd->add_flag("--cold", run.cold, "boot the VM instead of cloning a template");
  run_cmd->add_flag("--no-pool{false}", run.pool,
                    "clone the template here even when `uvm pool` has a clone ready");
  run_cmd->add_option("image", run.image, "image name (see `uvm image ls`; busybox is built in)")
      ->required();
  run_cmd->footer("CMD [ARG...] after IMAGE replace the image's Cmd (default: the image's).");

  uvm::cli::DoctorOptions doctor;
  auto* doctor_cmd = app.add_subcommand("doctor", "What this host's KVM can do, and why");
  doctor_cmd->add_flag("--json", doctor.json, "one JSON object instead of the report");
  doctor_cmd->add_flag("--verdict", doctor.verdict_only,
                       "print only `direct` (Linux guests run on this KVM) or `lab`");

  uvm::lab::LabOptions lab;
  auto* lab_cmd = app.add_subcommand("lab", "Run CMD inside the hardware-virtualization lab");
  lab_cmd->add_option("--memory", lab.memory_mib, "the lab's RAM in MiB")->capture_default_str();
  lab_cmd->add_option("--cpus", lab.cpus, "the lab's vCPUs")->capture_default_str();
  lab_cmd
      ->add_option("--timeout", lab.timeout_s,
                   "seconds after which the lab is killed and the run fails (0: never)")
      ->capture_default_str();
  lab_cmd->add_option("cmd", lab.argv, "command and arguments")->required();
  lab_cmd->prefix_command();

  uvm::bench::BenchOptions bench;
  auto* bench_cmd = app.add_subcommand("bench", "Measure uvm side by side with QEMU microvm");
  bench_cmd->require_subcommand(1);
  auto* bench_boot = bench_cmd->add_subcommand("boot", "VMM start to guest init in user space");
  uvm::bench::IoBenchOptions bench_io;
  auto* bench_io_cmd =
      bench_cmd->add_subcommand("io", "block, vsock and net throughput and VMM CPU per GiB");
  for (auto* c : {bench_cmd, bench_boot}) {
    c->add_flag("--json", bench.json, "one JSON object instead of a table");
  }
  bench_io_cmd->add_flag("--json", bench_io.json, "one JSON object instead of a table");
  bench_io_cmd->add_option("--runs", bench_io.runs, "runs per system")->capture_default_str();
  bench_io_cmd->add_option("--kernel", bench_io.kernel, "guest kernel (default: the built one)");
  bench_io_cmd->add_option("--initrd", bench_io.initrd, "initrd (default: the built test init)");
  bench_io_cmd->add_option("--dir", bench_io.dir, "where the disk image and sockets go")
      ->capture_default_str();
  bench_io_cmd->add_option("--mib", bench_io.mib, "sequential MiB and random span")
      ->capture_default_str();
  bench_io_cmd->add_option("--secs", bench_io.secs, "seconds per random phase")
      ->capture_default_str();
  bench_io_cmd->add_option("--threads", bench_io.threads, "random-I/O requests in flight")
      ->capture_default_str();
  bench_io_cmd->add_option("--vsock-mib", bench_io.vsock_mib, "vsock MiB each way")
      ->capture_default_str();
  bench_io_cmd
      ->add_option("--net-mib", bench_io.net_mib,
                   "TCP MiB each way over a tap in a network namespace (needs root; 0: skip)")
      ->capture_default_str();
  bench_boot->add_option("--runs", bench.runs, "repetitions per system")->capture_default_str();
  bench_boot->add_option("--kernel", bench.kernel, "guest kernel (default: the built one)");
  bench_boot->add_option("--initrd", bench.initrd, "initrd (default: the built bench init)");
  uvm::bench::BenchExecOptions bench_exec_opts;
  auto* bench_exec = bench_cmd->add_subcommand(
      "exec", "uvm run (cold boot) to the container's first byte and exit, beside boot to init");
  bench_exec->add_flag("--json", bench_exec_opts.json, "one JSON object instead of a table");
  bench_exec->add_option("--runs", bench_exec_opts.runs, "repetitions of each measurement")
      ->capture_default_str();
  uvm::bench::BenchCloneOptions bench_clone_opts;
  auto* bench_clone = bench_cmd->add_subcommand(
      "clone", "uvm run as a template clone vs cold boot to first output; idle clone memory");
  bench_clone->add_flag("--json", bench_clone_opts.json, "one JSON object instead of a table");
  bench_clone->add_option("--runs", bench_clone_opts.runs, "repetitions of each measurement")
      ->capture_default_str();
  uvm::bench::BenchRestoreOptions bench_restore_opts;
  auto* bench_restore = bench_cmd->add_subcommand(
      "restore", "snapshot restore latency and clones/s, directly on /dev/kvm (tiny guest)");
  bench_restore->add_flag("--json", bench_restore_opts.json, "one JSON object instead of a table");
  bench_restore->add_option("--runs", bench_restore_opts.runs, "restores measured")
      ->capture_default_str();
  bench_restore->add_option("--memory", bench_restore_opts.memory_mib, "guest RAM in MiB")
      ->capture_default_str();
  bench_restore->add_option("--pool", bench_restore_opts.pool, "pre-created empty VMs")
      ->capture_default_str();

  uvm::cli::ImageOptions image;
  auto* image_cmd = app.add_subcommand("image", "Import, list and remove container images");
  image_cmd->require_subcommand(1);
  auto* image_import = image_cmd->add_subcommand(
      "import",
      "Import SOURCE as NAME: oci:DIR, oci-archive:TAR, docker-archive:TAR (each with "
      "an optional :REF), a rootfs tar or a directory");
  image_import->add_option("source", image.source, "image source")->required();
  image_import->add_option("name", image.name, "image name")->required();
  auto* image_ls = image_cmd->add_subcommand("ls", "List the images in the store");
  auto* image_rm = image_cmd->add_subcommand("rm", "Remove an image");
  image_rm->add_option("name", image.name, "image name")->required();

  uvm::cli::TemplateOptions tmpl;
  auto* template_cmd = app.add_subcommand(
      "template", "Create, list and remove the pre-booted utility VMs `uvm run` clones");
  template_cmd->require_subcommand(1);
  auto* template_create = template_cmd->add_subcommand(
      "create", "Boot a utility VM to agent-ready and save it (uvm run does this on first use)");
  template_create->add_option("--memory", tmpl.memory_mib, "the VM's RAM in MiB")
      ->capture_default_str();
  template_create->add_option("--cpus", tmpl.cpus, "the VM's vCPUs (1-16)")->capture_default_str();
  template_create->add_flag("--net", tmpl.net,
                            "with a virtio-net device: what `uvm run --net tap` clones (needs "
                            "CAP_NET_ADMIN for a temporary tap)");
  template_create->add_option("--image", tmpl.image,
                              "prepared for this image: what `uvm run IMAGE` clones (mounted and "
                              "read into the template's page cache)");
  auto* template_ls = template_cmd->add_subcommand("ls", "List the templates");
  auto* template_rm = template_cmd->add_subcommand("rm", "Remove a template");
  template_rm->add_option("key", tmpl.key, "template key (or a unique prefix)")->required();

  uvm::cli::PoolOptions pool;
  auto* pool_cmd = app.add_subcommand(
      "pool", "Keep clones restored ahead of time, so `uvm run` finds its VM ready");
  pool_cmd->require_subcommand(1);
  auto* pool_start = pool_cmd->add_subcommand(
      "start", "Start the pool for --root in the background; back once the images' VMs are ready");
  pool_start->add_option("image", pool.images,
                         "images whose VMs to make from the start (others on first use)");
  pool_start->add_option("--size", pool.size, "VMs kept ready per image and shape (1-64)")
      ->capture_default_str();
  pool_start->add_option("--memory", pool.memory_mib, "the images' VMs' RAM in MiB (as uvm run)")
      ->capture_default_str();
  pool_start->add_option("--cpus", pool.cpus, "the images' VMs' vCPUs (as uvm run)")
      ->capture_default_str();
  pool_start->add_flag("--foreground", pool.foreground,
                       "serve in this process, logging to stderr, until SIGTERM or `pool stop`");
  auto* pool_stop = pool_cmd->add_subcommand(
      "stop", "Stop the pool (containers running in its VMs finish first)");
  auto* pool_status = pool_cmd->add_subcommand("status", "What the pool holds and has served");
  pool_status->add_flag("--json", pool.json, "one JSON object");

  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    run.command = SplitRunCommand(app, *run_cmd, args);
    std::reverse(args.begin(), args.end());  // CLI11 takes the words last-first
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "uvm: %s (see `uvm --help`)\n", e.what());
    return uvm::cli::kExitUvmError;
  }
  if (verbose) uvm::SetLogLevel(uvm::LogLevel::kDebug);

  uvm::Result<int> result = uvm::Err("no command");
  if (run_cmd->parsed()) {
    run.root = root;
    result = uvm::cli::RunContainer(run);
  } else if (boot_cmd->parsed()) {
    result = uvm::cli::RunBoot(boot);
  } else if (snapshot_save->parsed()) {
    result = uvm::cli::RunSnapshotSave(snap_save);
  } else if (snapshot_restore->parsed()) {
    result = uvm::cli::RunSnapshotRestore(snap_restore);
  } else if (doctor_cmd->parsed()) {
    result = uvm::cli::RunDoctor(doctor);
  } else if (lab_cmd->parsed()) {
    lab.verbose = verbose;
    result = uvm::lab::RunInLab(lab);
  } else if (bench_boot->parsed()) {
    result = uvm::bench::RunBenchBoot(bench);
  } else if (image_cmd->parsed()) {
    image.root = root;
    if (image_import->parsed()) result = uvm::cli::RunImageImport(image);
    if (image_ls->parsed()) result = uvm::cli::RunImageList(image);
    if (image_rm->parsed()) result = uvm::cli::RunImageRemove(image);
  } else if (template_cmd->parsed()) {
    tmpl.root = root;
    if (template_create->parsed()) result = uvm::cli::RunTemplateCreate(tmpl);
    if (template_ls->parsed()) result = uvm::cli::RunTemplateList(tmpl);
    if (template_rm->parsed()) result = uvm::cli::RunTemplateRemove(tmpl);
  } else if (pool_cmd->parsed()) {
    pool.root = root;
    if (pool_start->parsed()) result = uvm::cli::RunPoolStart(pool);
    if (pool_stop->parsed()) result = uvm::cli::RunPoolStop(pool);
    if (pool_status->parsed()) result = uvm::cli::RunPoolStatus(pool);
  } else if (bench_io_cmd->parsed()) {
    result = uvm::bench::RunBenchIo(bench_io);
  } else if (bench_exec->parsed()) {
    bench_exec_opts.json = bench_exec_opts.json || bench.json;
    result = uvm::bench::RunBenchExec(bench_exec_opts);
  } else if (bench_clone->parsed()) {
    bench_clone_opts.json = bench_clone_opts.json || bench.json;
    result = uvm::bench::RunBenchClone(bench_clone_opts);
  } else if (bench_restore->parsed()) {
    bench_restore_opts.json = bench_restore_opts.json || bench.json;
    result = uvm::bench::RunBenchRestore(bench_restore_opts);
  }
  if (!result) return Fail(result.error().message);
  return *result;
}
