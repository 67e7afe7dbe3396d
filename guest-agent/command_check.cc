#include "guest-agent/command_check.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "base/unique_fd.h"

namespace uvm::agent {
namespace {

enum class FileCheck { kMissing, kNotExecutable, kExecutable };

FileCheck CheckInRoot(int root_fd, const std::string& path) {
  struct open_how how {};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how)));
  struct stat st;
  if (!fd.valid() || ::fstat(fd.get(), &st) < 0) return FileCheck::kMissing;
  if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) return FileCheck::kNotExecutable;
  return FileCheck::kExecutable;
}

}  // namespace

std::optional<CommandProblem> CheckCommand(const std::string& root, const SpawnPlan& plan,
                                           const std::vector<std::string>& opaque) {
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid() || plan.argv.empty()) return std::nullopt;  // the runtime says why
  bool seen = false;
  for (const std::string& candidate : plan.candidates) {
    const std::string path = candidate[0] == '/' ? candidate : plan.cwd + "/" + candidate;
    for (const std::string& below : opaque) {
      if (path.rfind(below + "/", 0) == 0) return std::nullopt;
    }
    const FileCheck check = CheckInRoot(root_fd.get(), path);
    if (check == FileCheck::kExecutable) return std::nullopt;
    seen = seen || check == FileCheck::kNotExecutable;
  }
  const std::string& cmd = plan.argv[0];
  if (seen) return CommandProblem{126, EACCES, "cannot execute '" + cmd + "': Permission denied"};
  return CommandProblem{127, ENOENT,
                        cmd.find('/') != std::string::npos
                            ? "'" + cmd + "': no such file or directory"
                            : "'" + cmd + "': executable file not found in $PATH"};
}

}  // namespace uvm::agent
