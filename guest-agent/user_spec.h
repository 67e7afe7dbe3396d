// Exec's `user`: "", "USER" or "USER:GROUP", each a number or a name looked up in the container
// image's /etc/passwd and /etc/group (read by the agent itself: a static binary has no NSS).
#pragma once

#include <sys/types.h>

#include <string>

#include "base/result.h"

namespace uvm::agent {

struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
};

// `root` is the directory the container's / will be (its etc/ is read). A numeric user without a
// group takes its passwd entry's group, or 0 if it has none (like docker).
Result<Credentials> ResolveUser(const std::string& root, const std::string& spec);

}  // namespace uvm::agent
