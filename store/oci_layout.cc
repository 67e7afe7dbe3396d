#include "store/oci_layout.h"

#include "base/fs.h"
#include "base/json.h"
#include "base/quoted.h"
#include "base/sha256.h"

namespace uvm::store {
namespace {

// Manifests, indexes and configs are small; a bigger "JSON" blob is not read into memory.
constexpr size_t kMaxJsonBlob = 4 << 20;
// Nested indexes (an index pointing at an index) are followed this deep.
constexpr int kMaxIndexDepth = 4;

constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

Result<Descriptor> ParseDescriptor(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) return Err(what + ": descriptor is not an object");
  Descriptor d;
  UVM_TRY(std::optional<std::string> mt, OptString(j, "mediaType", what));
  if (mt) d.media_type = *mt;
  UVM_TRY(d.digest, ReqString(j, "digest", what));
  if (!IsSha256Digest(d.digest)) {
    return Err(what + ": digest " + Quoted(d.digest) +
               " is not a sha256 digest (the only kind uvm reads)");
  }
  UVM_TRY(std::optional<int64_t> size, OptInt(j, "size", what));
  if (!size || *size < 0) return Err(what + ": descriptor of " + d.digest + " has no valid size");
  d.size = *size;
  UVM_TRY(nlohmann::json ann, OptObject(j, "annotations", what));
  UVM_TRY(std::optional<std::string> ref,
          OptString(ann, "org.opencontainers.image.ref.name", what));
  if (ref) d.ref_name = *ref;
  UVM_TRY(nlohmann::json platform, OptObject(j, "platform", what));
  UVM_TRY(std::optional<std::string> os, OptString(platform, "os", what));
  UVM_TRY(std::optional<std::string> arch, OptString(platform, "architecture", what));
  if (os) d.os = *os;
  if (arch) d.architecture = *arch;
  return d;
}

std::string BlobPath(const std::string& digest) { return "blobs/sha256/" + digest.substr(7); }

// Reads a small blob and checks it is what its descriptor says.
Result<std::string> ReadJsonBlob(const std::string& dir, const Descriptor& d) {
  if (static_cast<uint64_t>(d.size) > kMaxJsonBlob) {
    return Err("blob " + d.digest + " is " + std::to_string(d.size) + " bytes, too big for JSON");
  }
  UVM_TRY(std::string bytes, ReadFileBeneath(dir, BlobPath(d.digest), kMaxJsonBlob));
  if (bytes.size() != static_cast<uint64_t>(d.size)) {
    return Err("blob " + d.digest + " is " + std::to_string(bytes.size()) + " bytes, not " +
               std::to_string(d.size) + " (truncated or corrupt image)");
  }
  if (Sha256Digest(bytes) != d.digest) {
    return Err("blob " + d.digest + " does not match its digest (corrupt image)");
  }
  return bytes;
}

}  // namespace

bool IsIndexMediaType(std::string_view mt) { return mt == kOciIndex || mt == kDockerList; }

Result<std::vector<Descriptor>> ParseIndex(std::string_view json) {
  const std::string what = "image index";
  UVM_TRY(nlohmann::json j, ParseJsonObject(json, what));
  UVM_TRY(std::optional<int64_t> version, OptInt(j, "schemaVersion", what));
  if (version && *version != 2) return Err(what + ": schemaVersion is not 2");
  UVM_TRY(nlohmann::json list, OptArray(j, "manifests", what));
  std::vector<Descriptor> out;
  for (const nlohmann::json& m : list) {
    UVM_TRY(Descriptor d, ParseDescriptor(m, what));
    out.push_back(std::move(d));
  }
  if (out.empty()) return Err(what + ": lists no manifests");
  return out;
}

Result<Manifest> ParseManifest(std::string_view json) {
  const std::string what = "image manifest";
  UVM_TRY(nlohmann::json j, ParseJsonObject(json, what));
  UVM_TRY(std::optional<int64_t> version, OptInt(j, "schemaVersion", what));
  if (!version || *version != 2) return Err(what + ": schemaVersion is not 2");
  UVM_TRY(std::optional<std::string> mt, OptString(j, "mediaType", what));
  if (mt && *mt != kOciManifest && *mt != kDockerManifest) {
    return Err(what + ": media type " + Quoted(*mt) + " is not an image manifest");
  }
  if (!j.contains("config")) return Err(what + ": has no config");
  Manifest m;
  UVM_TRY(m.config, ParseDescriptor(j["config"], what + " config"));
  UVM_TRY(nlohmann::json layers, OptArray(j, "layers", what));
  for (const nlohmann::json& l : layers) {
    UVM_TRY(Descriptor d, ParseDescriptor(l, what + " layer"));
    m.layers.push_back(std::move(d));
  }
  return m;
}

Result<Descriptor> SelectManifest(const std::vector<Descriptor>& manifests,
                                  const std::string& ref) {
  // The refs are the image's text: quoted, and only the first few, so the error stays one line.
  constexpr int kMaxRefsListed = 8;
  std::string refs;
  int listed = 0;
  for (const Descriptor& d : manifests) {
    if (!ref.empty() && d.ref_name == ref) return d;
    if (d.ref_name.empty()) continue;
    if (listed < kMaxRefsListed) refs += (refs.empty() ? "" : ", ") + Quoted(d.ref_name);
    if (listed++ == kMaxRefsListed) refs += ", ...";
  }
  if (!ref.empty()) {
    return Err("no image named " + Quoted(ref) + " in the index" +
               (refs.empty() ? std::string() : " (it has: " + refs + ")"));
  }
  if (manifests.size() == 1) return manifests[0];
  const Descriptor* match = nullptr;
  int matches = 0;
  for (const Descriptor& d : manifests) {
    if (d.os == "linux" && d.architecture == "amd64") {
      match = &d;
      ++matches;
    }
  }
  if (matches == 1) return *match;
  return Err("the index lists " + std::to_string(manifests.size()) +
             " images; name one as SOURCE:REF" +
             (refs.empty() ? std::string() : " (refs: " + refs + ")"));
}

Result<ImagePlan> PlanOciLayout(const std::string& dir, const std::string& ref) {
  UVM_TRY(std::string layout,
          Context(ReadFileBeneath(dir, "oci-layout", 4096), dir + " is not an OCI image layout"));
  UVM_TRY(nlohmann::json lj, ParseJsonObject(layout, "oci-layout"));
  UVM_TRY(std::string version, ReqString(lj, "imageLayoutVersion", "oci-layout"));
  if (!version.starts_with("1.")) return Err("oci-layout: unknown version " + Quoted(version));
  UVM_TRY(std::string index_json, ReadFileBeneath(dir, "index.json", kMaxJsonBlob));
  UVM_TRY(std::vector<Descriptor> manifests, ParseIndex(index_json));
  UVM_TRY(Descriptor chosen, SelectManifest(manifests, ref));
  for (int depth = 0; IsIndexMediaType(chosen.media_type); ++depth) {
    if (depth == kMaxIndexDepth) return Err("image indexes nest too deep");
    UVM_TRY(std::string nested, ReadJsonBlob(dir, chosen));
    UVM_TRY(manifests, ParseIndex(nested));
    // A ref names the outer entry; inside it the platform decides.
    UVM_TRY(chosen, SelectManifest(manifests, ""));
  }
  UVM_TRY(std::string manifest_json, ReadJsonBlob(dir, chosen));
  UVM_TRY(Manifest manifest, ParseManifest(manifest_json));
  UVM_TRY(std::string config_json, ReadJsonBlob(dir, manifest.config));
  UVM_TRY(ParsedImageConfig config, ParseImageConfig(config_json));
  if (config.diff_ids.size() != manifest.layers.size()) {
    return Err("image manifest has " + std::to_string(manifest.layers.size()) +
               " layers but its config lists " + std::to_string(config.diff_ids.size()));
  }
  ImagePlan plan;
  plan.config = std::move(config.config);
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    const Descriptor& d = manifest.layers[i];
    if (d.media_type.find("zstd") != std::string::npos) {
      return Err("layer " + d.digest + " is zstd-compressed (" + Quoted(d.media_type) +
                 "); uvm reads tar and gzip layers");
    }
    plan.layers.push_back(LayerFile{dir, BlobPath(d.digest), d.digest, d.size, config.diff_ids[i]});
  }
  return plan;
}

}  // namespace uvm::store
