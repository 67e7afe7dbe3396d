#include "store/image_build.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/quoted.h"
#include "store/docker_archive.h"
#include "store/ext4_image.h"
#include "store/image_store.h"
#include "store/layer_apply.h"
#include "store/layer_stream.h"
#include "store/oci_layout.h"
#include "store/tree_copy.h"

namespace uvm::store {
namespace {

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// An archive's files (a layout or docker-archive) unpacked as plain files for planning.
Result<std::string> UnpackArchive(const std::string& tar, const std::string& work) {
  const std::string dir = work + "/archive";
  if (::mkdir(dir.c_str(), 0700) != 0) return ErrnoErr(dir);
  UniqueFd fd(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoErr(tar);
  // Named in messages as "the archive": the caller's context already names the file.
  UVM_TRY(std::unique_ptr<LayerStream> in, LayerStream::Open(std::move(fd), "the archive"));
  ApplyOptions options;
  options.whiteouts = false;
  options.preserve_owner = false;
  UVM_CHECK(ApplyLayer(*in, dir, options));
  return dir;
}

Result<void> ApplyVerified(const LayerFile& layer, const std::string& rootfs, bool whiteouts,
                           std::string* diff_id) {
  UVM_TRY(UniqueFd fd, OpenBeneath(layer.dir, layer.path));
  UVM_TRY(std::unique_ptr<LayerStream> in,
          LayerStream::Open(std::move(fd), "layer " + Quoted(layer.path)));
  ApplyOptions options;
  options.whiteouts = whiteouts;
  UVM_CHECK(ApplyLayer(*in, rootfs, options));
  if (layer.blob_size >= 0 && in->blob_size() != static_cast<uint64_t>(layer.blob_size)) {
    return Err("layer " + Quoted(layer.path) + " is " + std::to_string(in->blob_size()) +
               " bytes, not " + std::to_string(layer.blob_size) + " (truncated or corrupt image)");
  }
  if (!layer.blob_digest.empty() && in->blob_digest() != layer.blob_digest) {
    return Err("layer " + Quoted(layer.path) + " does not match its digest " + layer.blob_digest +
               " (corrupt image)");
  }
  if (!layer.diff_id.empty() && in->diff_id() != layer.diff_id) {
    return Err("layer " + Quoted(layer.path) + " does not match the config's diff_id " +
               layer.diff_id + " (corrupt image)");
  }
  *diff_id = in->diff_id();
  return {};
}

}  // namespace

std::string DiskFileName(const std::string& digest) { return digest.substr(7) + ".ext4"; }

Result<BuiltImage> BuildImage(const Source& source, const std::string& work,
                              const std::string& disks_dir) {
  ImagePlan plan;
  switch (source.kind) {
    case SourceKind::kOciLayout: {
      UVM_TRY(plan, PlanOciLayout(source.path, source.ref));
      break;
    }
    case SourceKind::kOciArchive: {
      UVM_TRY(std::string dir, UnpackArchive(source.path, work));
      UVM_TRY(plan, PlanOciLayout(dir, source.ref));
      break;
    }
    case SourceKind::kDockerArchive: {
      UVM_TRY(std::string dir, UnpackArchive(source.path, work));
      UVM_TRY(plan, PlanDockerArchive(dir, source.ref));
      break;
    }
    case SourceKind::kRootfsTar: {
      char real[PATH_MAX];
      if (!::realpath(source.path.c_str(), real)) return ErrnoErr(source.path);
      std::string path = real;
      size_t slash = path.rfind('/');
      plan.layers.push_back(
          LayerFile{slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1), "", -1, ""});
      plan.whiteouts = false;
      plan.config = DefaultImageConfig();
      break;
    }
    case SourceKind::kDirectory:
      plan.config = DefaultImageConfig();
      break;
  }

  BuiltImage out;
  out.config = plan.config;
  const std::string rootfs = work + "/rootfs";
  if (::mkdir(rootfs.c_str(), 0755) != 0) return ErrnoErr(rootfs);
  std::vector<std::string> diff_ids;
  for (const LayerFile& l : plan.layers) {
    if (l.diff_id.empty()) break;
    diff_ids.push_back(l.diff_id);
  }
  if (!plan.layers.empty() && diff_ids.size() == plan.layers.size()) {
    // Every layer's content is known from the (verified) config: a disk built from the same
    // layers before is reused without unpacking anything.
    out.digest = RootfsDigest(diff_ids);
    if (FileExists(disks_dir + "/" + DiskFileName(out.digest))) {
      Log(LogLevel::kInfo, "root filesystem " + out.digest + " is already in the store");
      return out;
    }
  }
  if (source.kind == SourceKind::kDirectory) {
    UVM_TRY(std::string tree_digest, CopyTree(source.path, rootfs, ApplyOptions{}));
    diff_ids = {tree_digest};
  } else {
    diff_ids.clear();
    for (const LayerFile& layer : plan.layers) {
      std::string diff_id;
      UVM_CHECK(ApplyVerified(layer, rootfs, plan.whiteouts, &diff_id));
      diff_ids.push_back(diff_id);
    }
  }
  out.digest = RootfsDigest(diff_ids);
  if (FileExists(disks_dir + "/" + DiskFileName(out.digest))) return out;
  out.disk_path = work + "/disk.ext4";
  UVM_CHECK(BuildExt4(rootfs, out.disk_path));
  return out;
}

}  // namespace uvm::store
