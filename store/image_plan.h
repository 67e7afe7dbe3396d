// What an image source resolves to before anything is unpacked: the config and the layer files
// in order, each with the digests it must match.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/image_config.h"

namespace uvm::store {

struct LayerFile {
  std::string dir;          // the image's directory
  std::string path;         // below `dir`, opened with OpenBeneath
  std::string blob_digest;  // sha256 of the file as stored (maybe compressed); empty: unchecked
  int64_t blob_size = -1;   // -1: unchecked
  std::string diff_id;      // sha256 of the uncompressed tar; empty: unchecked
};

struct ImagePlan {
  ImageConfig config;
  std::vector<LayerFile> layers;
  // OCI whiteouts apply between layers; a plain rootfs tar is taken literally.
  bool whiteouts = true;
};

}  // namespace uvm::store
