#include "store/source.h"

#include <sys/stat.h>

#include <string_view>

namespace uvm::store {
namespace {

constexpr char kForms[] =
    "expected oci:DIR, oci-archive:TAR, docker-archive:TAR, a rootfs tar or a directory";

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

const char* SourceKindName(SourceKind kind) {
  switch (kind) {
    case SourceKind::kOciLayout:
      return "oci";
    case SourceKind::kOciArchive:
      return "oci-archive";
    case SourceKind::kDockerArchive:
      return "docker-archive";
    case SourceKind::kRootfsTar:
      return "rootfs tar";
    case SourceKind::kDirectory:
      return "directory";
  }
  return "?";
}

Result<Source> ParseSource(const std::string& text) {
  if (text.empty()) return Err(std::string("empty image source: ") + kForms);
  struct Prefix {
    std::string_view name;
    SourceKind kind;
  };
  static constexpr Prefix kPrefixes[] = {{"oci:", SourceKind::kOciLayout},
                                         {"oci-archive:", SourceKind::kOciArchive},
                                         {"docker-archive:", SourceKind::kDockerArchive}};
  for (const Prefix& p : kPrefixes) {
    if (!std::string_view(text).starts_with(p.name)) continue;
    Source s{p.kind, text.substr(p.name.size()), ""};
    if (s.path.empty())
      return Err("image source " + text + ": no path after '" + std::string(p.name) + "'");
    if (!Exists(s.path)) {
      // The shortest existing prefix before a ':' is the path; the rest (which may itself hold
      // ':', as in REPO:TAG) is the ref.
      for (size_t colon = s.path.find(':'); colon != std::string::npos;
           colon = s.path.find(':', colon + 1)) {
        if (colon > 0 && Exists(s.path.substr(0, colon))) {
          s.ref = s.path.substr(colon + 1);
          s.path.resize(colon);
          break;
        }
      }
    }
    if (!Exists(s.path)) return Err("image source " + text + ": " + s.path + " does not exist");
    return s;
  }
  struct stat st;
  if (::stat(text.c_str(), &st) != 0) {
    return Err("image source " + text + ": no such file or directory (" + kForms + ")");
  }
  if (S_ISDIR(st.st_mode)) return Source{SourceKind::kDirectory, text, ""};
  if (S_ISREG(st.st_mode)) return Source{SourceKind::kRootfsTar, text, ""};
  return Err("image source " + text + ": not a regular file or directory (" + kForms + ")");
}

}  // namespace uvm::store
