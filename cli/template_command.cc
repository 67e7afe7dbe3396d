#include "cli/template_command.h"

#include <cstdio>
#include <ctime>

#include "boot/layout.h"
#include "cli/host_verdict.h"
#include "cli/image_command.h"
#include "cli/template_store.h"
#include "store/image_store.h"

namespace uvm::cli {

// The built-in kernel and agent initramfs every utility VM runs.
TemplateShape DefaultTemplateShape(uint64_t memory_mib, int cpus, bool net) {
  const std::string images = BuiltinImagesDir();
  TemplateShape shape;
  shape.kernel = images + "/vmlinux";
  shape.initrd = images + "/agent-initramfs.cpio.gz";
  shape.memory_mib = memory_mib;
  shape.cpus = cpus;
  shape.net = net;
  return shape;
}

Result<void> CheckVmSize(uint64_t memory_mib, int cpus) {
  if (cpus < 1 || cpus > boot::kMaxCpus) {
    return Err("--cpus " + std::to_string(cpus) + ": must be 1 to " +
               std::to_string(boot::kMaxCpus));
  }
  if ((memory_mib << 20) < boot::kMinRamBytes || memory_mib > (1u << 20)) {
    return Err("--memory " + std::to_string(memory_mib) + ": must be at least " +
               std::to_string(boot::kMinRamBytes >> 20) + " MiB");
  }
  return {};
}

Result<int> RunTemplateCreate(const TemplateOptions& o) {
  UVM_CHECK(CheckVmSize(o.memory_mib, o.cpus));
  if (!LinuxGuestsRunHere()) {
    return Err(
        "this host's KVM cannot run Linux guests (see `uvm doctor`); use the lab: "
        "`uvm lab -- uvm template create`");
  }
  TemplateStore store(o.root);
  TemplateShape shape = DefaultTemplateShape(o.memory_mib, o.cpus, o.net);
  if (!o.image.empty()) {
    UVM_TRY(store::ImageStore images, store::ImageStore::Open(o.root, BuiltinImagesDir()));
    UVM_TRY(store::ImageRecord image, images.Resolve(o.image));
    shape.image_disk = image.disk_path;
    shape.image_name = o.image;
  }
  UVM_TRY(std::string key, TemplateKey(shape));
  if (auto dir = store.Find(key)) {
    std::printf("%s (exists)\n", key.c_str());
    return 0;
  }
  UVM_TRY(std::string dir, store.Create(shape, key));
  std::printf("%s\n", key.c_str());
  return 0;
}

Result<int> RunTemplateList(const TemplateOptions& o) {
  TemplateStore store(o.root);
  UVM_TRY(auto list, store.List());
  std::printf("%-16s  %8s  %4s  %-13s  %10s  %-19s  %-12s  %s\n", "KEY", "MEMORY", "CPUS",
              "DEVICES", "ON DISK", "CREATED", "IMAGE", "KERNEL");
  for (const TemplateInfo& t : list) {
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
                DeviceLayout(t.shape).c_str(), static_cast<double>(t.memory_on_disk) / (1 << 20),
                when, image.c_str(), t.shape.kernel.c_str());
  }
  return 0;
}

Result<int> RunTemplateRemove(const TemplateOptions& o) {
  TemplateStore store(o.root);
  UVM_TRY(std::string key, store.Remove(o.key));
  std::printf("%s\n", key.c_str());
  return 0;
}

}  // namespace uvm::cli
