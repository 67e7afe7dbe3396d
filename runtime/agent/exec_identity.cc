#include "runtime/agent/exec_identity.h"

#include <sys/random.h>
#include <time.h>

#include <cerrno>
#include <string>

namespace uvm::agent {

Result<void> StampIdentity(ExecRequest& request) {
  std::string bytes(kExecEntropyBytes, '\0');
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = getrandom(bytes.data() + done, bytes.size() - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoErr("getrandom");
    done += static_cast<size_t>(n);
  }
  request.entropy = EncodeEntropy(bytes);
  timespec now{};
  if (clock_gettime(CLOCK_REALTIME, &now) < 0) return ErrnoErr("clock_gettime");
  request.realtime_ns =
      static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(now.tv_nsec);
  return {};
}

}  // namespace uvm::agent
