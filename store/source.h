// The SOURCE argument of `uvm image import` (README, "Commands"): which kind of image it names.
#pragma once

#include <string>

#include "base/result.h"

namespace uvm::store {

enum class SourceKind {
  kOciLayout,      // oci:DIR[:REF]            an OCI image layout directory
  kOciArchive,     // oci-archive:TAR[:REF]    the same, in a tar file
  kDockerArchive,  // docker-archive:TAR[:REF] what `docker save` / `podman save` write
  kRootfsTar,      // TAR                      a root filesystem (optionally gzip'd), one layer
  kDirectory,      // DIR                      a root filesystem directory
};

struct Source {
  SourceKind kind;
  std::string path;
  std::string ref;  // which image in a layout or archive holding several; empty: the only one
};

// Parses SOURCE. A transport prefix names the kind; a bare path is a directory or a rootfs tar.
// ":REF" is split off only when the whole rest is not an existing path, so paths may hold ':';
// then the path is the shortest existing prefix before a ':'.
Result<Source> ParseSource(const std::string& text);

const char* SourceKindName(SourceKind kind);

}  // namespace uvm::store
