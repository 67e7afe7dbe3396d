#include "store/testing/oci_builder.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "base/sha256.h"
#include "store/testing/tar_builder.h"

namespace uvm::store::testing {

TestLayer PlainLayer(const std::string& tar) { return {tar, Sha256Digest(tar), false}; }
TestLayer GzipLayer(const std::string& tar) { return {Gzip(tar), Sha256Digest(tar), true}; }

std::string ConfigJson(const std::vector<TestLayer>& layers, const std::string& process_config) {
  nlohmann::json diff_ids = nlohmann::json::array();
  for (const TestLayer& l : layers) diff_ids.push_back(l.diff_id);
  nlohmann::json j = {{"architecture", "amd64"},
                      {"os", "linux"},
                      {"config", nlohmann::json::parse(process_config)},
                      {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
  return j.dump();
}

std::string WriteBlob(const std::string& dir, const std::string& bytes) {
  std::string digest = Sha256Digest(bytes);
  WriteFile(dir + "/blobs/sha256/" + digest.substr(7), bytes);
  return digest;
}

std::string WriteOciLayout(const std::string& dir, const std::string& config_json,
                           const std::vector<TestLayer>& layers, const std::string& ref) {
  ::mkdir(dir.c_str(), 0755);
  ::mkdir((dir + "/blobs").c_str(), 0755);
  ::mkdir((dir + "/blobs/sha256").c_str(), 0755);
  WriteFile(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  nlohmann::json manifest = {{"schemaVersion", 2},
                             {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                             {"config",
                              {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                               {"digest", WriteBlob(dir, config_json)},
                               {"size", config_json.size()}}},
                             {"layers", nlohmann::json::array()}};
  for (const TestLayer& l : layers) {
    manifest["layers"].push_back(
        {{"mediaType", l.gzip ? "application/vnd.oci.image.layer.v1.tar+gzip"
                              : "application/vnd.oci.image.layer.v1.tar"},
         {"digest", WriteBlob(dir, l.bytes)},
         {"size", l.bytes.size()}});
  }
  std::string mjson = manifest.dump();
  std::string mdigest = WriteBlob(dir, mjson);
  nlohmann::json index = {{"schemaVersion", 2},
                          {"manifests",
                           {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                             {"digest", mdigest},
                             {"size", mjson.size()},
                             {"annotations", {{"org.opencontainers.image.ref.name", ref}}}}}}};
  WriteFile(dir + "/index.json", index.dump());
  return mdigest;
}

}  // namespace uvm::store::testing
