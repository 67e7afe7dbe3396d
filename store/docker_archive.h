// The docker-archive format (`docker save`, `podman save`, `skopeo copy ... docker-archive:`):
// a tar holding manifest.json, a list of {Config, RepoTags, Layers} with paths inside the tar.
// Layers are checked against the config's rootfs.diff_ids; the config against its file name
// when that is a digest (as Docker names it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/image_plan.h"

namespace uvm::store {

struct DockerArchiveImage {
  std::string config;
  std::vector<std::string> repo_tags;
  std::vector<std::string> layers;
};

Result<std::vector<DockerArchiveImage>> ParseDockerManifest(std::string_view json);

// Resolves the image `ref` (a RepoTag; empty: the only image) in an unpacked archive at `dir`.
Result<ImagePlan> PlanDockerArchive(const std::string& dir, const std::string& ref);

}  // namespace uvm::store
