// Writes small OCI image layouts for tests (image-spec image-layout.md).
#pragma once

#include <string>
#include <vector>

namespace uvm::store::testing {

struct TestLayer {
  std::string bytes;    // as stored: a tar, or a gzip'd tar
  std::string diff_id;  // sha256 of the uncompressed tar
  bool gzip = false;
};

TestLayer PlainLayer(const std::string& tar);
TestLayer GzipLayer(const std::string& tar);

// A config JSON with the given process fields and the layers' diff_ids.
std::string ConfigJson(const std::vector<TestLayer>& layers, const std::string& process_config);

// Writes an OCI layout at `dir` (created) with one image tagged `ref`; returns the manifest
// digest.
std::string WriteOciLayout(const std::string& dir, const std::string& config_json,
                           const std::vector<TestLayer>& layers, const std::string& ref = "latest");

// Writes a blob; returns its digest.
std::string WriteBlob(const std::string& dir, const std::string& bytes);

}  // namespace uvm::store::testing
