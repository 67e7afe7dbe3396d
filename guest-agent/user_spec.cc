#include "guest-agent/user_spec.h"

#include <charconv>
#include <optional>
#include <sstream>
#include <vector>

#include "base/fs.h"

namespace uvm::agent {
namespace {

std::optional<uint32_t> Number(const std::string& s) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// The colon-separated fields of the first line of `rel` under `root` (the image's etc/passwd or
// etc/group, read without leaving the root: the image is untrusted) whose field 0 (by_name) or
// field 2 equals `key`.
std::optional<std::vector<std::string>> FindEntry(const std::string& root, const std::string& rel,
                                                  const std::string& key, bool by_name) {
  auto text = ReadFileBeneath(root, rel, 16 << 20);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    size_t start = 0;
    for (;;) {
      size_t colon = line.find(':', start);
      fields.push_back(line.substr(start, colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    if (fields.size() < 4) continue;
    if ((by_name ? fields[0] : fields[2]) == key) return fields;
  }
  return std::nullopt;
}

}  // namespace

Result<Credentials> ResolveUser(const std::string& root, const std::string& spec) {
  Credentials c;
  if (spec.empty()) return c;
  size_t colon = spec.find(':');
  std::string user = spec.substr(0, colon);
  std::string group = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (user.empty()) return Err("user '" + spec + "' has an empty user part");

  if (auto uid = Number(user)) {
    c.uid = *uid;
    auto entry = FindEntry(root, "etc/passwd", user, /*by_name=*/false);
    if (entry) c.gid = Number((*entry)[3]).value_or(0);
  } else {
    auto entry = FindEntry(root, "etc/passwd", user, /*by_name=*/true);
    if (!entry) return Err("user '" + user + "' is not in the image's /etc/passwd");
    auto entry_uid = Number((*entry)[2]);
    auto gid = Number((*entry)[3]);
    if (!entry_uid || !gid)
      return Err("the image's /etc/passwd entry for '" + user + "' is malformed");
    c.uid = *entry_uid;
    c.gid = *gid;
  }
  if (colon != std::string::npos) {
    if (auto gid = Number(group)) {
      c.gid = *gid;
    } else {
      auto entry = FindEntry(root, "etc/group", group, /*by_name=*/true);
      if (!entry) return Err("group '" + group + "' is not in the image's /etc/group");
      auto g = Number((*entry)[2]);
      if (!g) return Err("the image's /etc/group entry for '" + group + "' is malformed");
      c.gid = *g;
    }
  }
  return c;
}

}  // namespace uvm::agent
