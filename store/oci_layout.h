// The OCI image layout (image-spec image-layout.md): `oci-layout`, `index.json`, and content-
// addressed blobs under blobs/sha256/. Followed index -> manifest -> config + layers; every blob
// read is checked against its descriptor's size and digest.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/image_plan.h"

namespace uvm::store {

// image-spec descriptor.md, the members uvm uses.
struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  std::string ref_name;  // annotation org.opencontainers.image.ref.name
  std::string os, architecture;
};

struct Manifest {
  Descriptor config;
  std::vector<Descriptor> layers;
};

// The manifests an index (or index.json) lists.
Result<std::vector<Descriptor>> ParseIndex(std::string_view json);
Result<Manifest> ParseManifest(std::string_view json);

bool IsIndexMediaType(std::string_view media_type);

// Picks the image `ref` names from an index; without a ref: the only entry, or the one for
// linux/amd64.
Result<Descriptor> SelectManifest(const std::vector<Descriptor>& manifests, const std::string& ref);

// Resolves the image `ref` (see SelectManifest) in the layout at `dir`.
Result<ImagePlan> PlanOciLayout(const std::string& dir, const std::string& ref);

}  // namespace uvm::store
