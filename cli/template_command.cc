// `uvm template create|ls|rm`: the pre-booted utility VMs `uvm run` clones.
#include <cstdio>
#include <ctime>

#include "cli/command.h"
#include "runtime/host_check.h"
#include "runtime/paths.h"
#include "runtime/template_store.h"
#include "runtime/vm_shape.h"
#include "store/image_store.h"

namespace uvm::cli {
namespace {

struct TemplateOptions {
  std::string root;  // uvm's state root (--root)
  uint64_t memory_mib = 256;
  int cpus = 1;
  bool net = false;   // create: the variant with a virtio-net device (uvm run --net tap)
  std::string image;  // create: prepared for this image (uvm run IMAGE); "": none
  std::string key;    // rm
};

Result<int> RunTemplateCreate(const TemplateOptions& o) {
  UVM_CHECK(runtime::ValidateVmShape(o.memory_mib, o.cpus));
  UVM_CHECK(runtime::RequireLinuxGuests("uvm lab -- uvm template create"));
  runtime::TemplateStore store(o.root);
  runtime::TemplateShape shape = runtime::BuiltinTemplateShape(o.memory_mib, o.cpus, o.net);
  if (!o.image.empty()) {
    UVM_TRY(store::ImageStore images, store::ImageStore::Open(o.root, runtime::BuiltinImagesDir()));
    UVM_TRY(store::ImageRecord image, images.Resolve(o.image));
    shape.image_disk = image.disk_path;
    shape.image_name = o.image;
  }
  UVM_TRY(std::string key, runtime::TemplateKey(shape));
  if (auto dir = store.Find(key)) {
    std::printf("%s (exists)\n", key.c_str());
    return 0;
  }
  UVM_TRY(std::string dir, store.Create(shape, key));
  std::printf("%s\n", key.c_str());
  return 0;
}

Result<int> RunTemplateList(const TemplateOptions& o) {
  runtime::TemplateStore store(o.root);
  UVM_TRY(auto list, store.List());
  std::printf("%-16s  %8s  %4s  %-13s  %10s  %-19s  %-12s  %s\n", "KEY", "MEMORY", "CPUS",
              "DEVICES", "ON DISK", "CREATED", "IMAGE", "KERNEL");
  for (const runtime::TemplateInfo& t : list) {
    char when[32] = "?";
    const time_t created = static_cast<time_t>(t.created);
    if (tm local{}; localtime_r(&created, &local)) {
      std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &local);
    }
    const std::string image = t.shape.image_disk.empty()   ? "-"
                              : t.shape.image_name.empty() ? "?"
                                                           : t.shape.image_name;
    std::printf("%-16s  %5llu MiB  %4d  %-13s  %6.1f MiB  %-19s  %-12s  %s\n", t.key.c_str(),
                static_cast<unsigned long long>(t.shape.memory_mib), t.shape.cpus,
                runtime::DeviceLayout(t.shape).c_str(),
                static_cast<double>(t.memory_on_disk) / (1 << 20), when, image.c_str(),
                t.shape.kernel.c_str());
  }
  return 0;
}

Result<int> RunTemplateRemove(const TemplateOptions& o) {
  runtime::TemplateStore store(o.root);
  UVM_TRY(std::string key, store.Remove(o.key));
  std::printf("%s\n", key.c_str());
  return 0;
}

}  // namespace

void RegisterTemplateCommand(CommandTable& table) {
  auto o = std::make_shared<TemplateOptions>();
  const GlobalOptions& g = table.global;
  auto cmd = table.root.Sub("template",
                            "Create, list and remove the pre-booted utility VMs `uvm run` clones");
  cmd.NeedsSubcommand();
  auto create = cmd.Sub(
      "create", "Boot a utility VM to agent-ready and save it (uvm run does this on first use)");
  create.Option("--memory", o->memory_mib, "the VM's RAM in MiB").ShowDefault();
  create.Option("--cpus", o->cpus, "the VM's vCPUs (1-16)").ShowDefault();
  create.Flag("--net", o->net,
              "with a virtio-net device: what `uvm run --net tap` clones (needs "
              "CAP_NET_ADMIN for a temporary tap)");
  create.Option("--image", o->image,
                "prepared for this image: what `uvm run IMAGE` clones (mounted and read "
                "into the template's page cache)");
  auto ls = cmd.Sub("ls", "List the templates");
  auto rm = cmd.Sub("rm", "Remove a template");
  rm.Option("key", o->key, "template key (or a unique prefix)").Required();
  OnParsed(create, table, WithRoot(o, g, RunTemplateCreate));
  OnParsed(ls, table, WithRoot(o, g, RunTemplateList));
  OnParsed(rm, table, WithRoot(o, g, RunTemplateRemove));
}

}  // namespace uvm::cli
