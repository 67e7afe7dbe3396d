#include "store/docker_archive.h"

#include "base/fs.h"
#include "base/json.h"
#include "base/quoted.h"
#include "base/sha256.h"

namespace uvm::store {
namespace {

constexpr size_t kMaxJson = 4 << 20;

// The digest a config file name states: "<hex>.json" (classic docker save) or
// "blobs/sha256/<hex>" (docker save since 25, an OCI layout inside); empty when it states none.
std::string DigestInName(const std::string& path) {
  std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  if (base.ends_with(".json")) base.resize(base.size() - 5);
  std::string digest = "sha256:" + base;
  return IsSha256Digest(digest) ? digest : std::string();
}

// "busybox:1" and "docker.io/library/busybox:1" name the same image (skopeo and podman write
// the long form into RepoTags).
std::string_view ShortTag(std::string_view tag) {
  for (std::string_view prefix : {"docker.io/library/", "docker.io/"}) {
    if (tag.starts_with(prefix)) return tag.substr(prefix.size());
  }
  return tag;
}

}  // namespace

Result<std::vector<DockerArchiveImage>> ParseDockerManifest(std::string_view json) {
  const std::string what = "docker-archive manifest.json";
  nlohmann::json j = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (j.is_discarded()) return Err(what + ": not valid JSON");
  if (!j.is_array()) return Err(what + ": not a JSON array");
  std::vector<DockerArchiveImage> out;
  for (const nlohmann::json& e : j) {
    if (!e.is_object()) return Err(what + ": an entry is not an object");
    DockerArchiveImage img;
    UVM_TRY(img.config, ReqString(e, "Config", what));
    UVM_TRY(img.repo_tags, OptStrings(e, "RepoTags", what));
    UVM_TRY(img.layers, OptStrings(e, "Layers", what));
    out.push_back(std::move(img));
  }
  if (out.empty()) return Err(what + ": lists no images");
  return out;
}

Result<ImagePlan> PlanDockerArchive(const std::string& dir, const std::string& ref) {
  UVM_TRY(std::string manifest_json,
          Context(ReadFileBeneath(dir, "manifest.json", kMaxJson), "not a docker-archive"));
  UVM_TRY(std::vector<DockerArchiveImage> images, ParseDockerManifest(manifest_json));
  const DockerArchiveImage* chosen = nullptr;
  if (ref.empty()) {
    if (images.size() != 1) {
      return Err("the archive holds " + std::to_string(images.size()) +
                 " images; name one as docker-archive:TAR:REPO:TAG");
    }
    chosen = &images[0];
  } else {
    for (const DockerArchiveImage& img : images) {
      for (const std::string& tag : img.repo_tags) {
        if (ShortTag(tag) == ShortTag(ref)) chosen = &img;
      }
    }
    if (!chosen) return Err("no image tagged \"" + ref + "\" in the archive");
  }
  UVM_TRY(std::string config_json, Context(ReadFileBeneath(dir, chosen->config, kMaxJson),
                                           "image config " + chosen->config));
  if (std::string want = DigestInName(chosen->config);
      !want.empty() && Sha256Digest(config_json) != want) {
    return Err("image config " + Quoted(chosen->config) +
               " does not match its digest (corrupt image)");
  }
  UVM_TRY(ParsedImageConfig config, ParseImageConfig(config_json));
  if (config.diff_ids.size() != chosen->layers.size()) {
    return Err("manifest.json lists " + std::to_string(chosen->layers.size()) +
               " layers but the image config has " + std::to_string(config.diff_ids.size()));
  }
  ImagePlan plan;
  plan.config = std::move(config.config);
  for (size_t i = 0; i < chosen->layers.size(); ++i) {
    LayerFile layer{dir, chosen->layers[i], "", -1, config.diff_ids[i]};
    // Inside a docker save >= 25 archive the layer is an OCI blob named by its digest.
    if (std::string d = DigestInName(chosen->layers[i]);
        !d.empty() && chosen->layers[i].find("blobs/sha256/") != std::string::npos) {
      layer.blob_digest = d;
    }
    plan.layers.push_back(std::move(layer));
  }
  return plan;
}

}  // namespace uvm::store
