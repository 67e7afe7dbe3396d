#include "runtime/paths.h"

#include <sys/stat.h>

#include <cerrno>

#include "base/fs.h"

namespace uvm::runtime {

Result<void> EnsureRunDir() {
  if (::mkdir(kRunDir, 0755) != 0 && errno != EEXIST) {
    return ErrnoErr(std::string("creating ") + kRunDir);
  }
  return {};
}

std::string BuiltinImagesDir() { return ImagesDirOf(SelfDir()); }

std::string BuiltinKernel() { return BuiltinImagesDir() + "/vmlinux"; }

std::string BuiltinAgentInitramfs() { return BuiltinImagesDir() + "/agent-initramfs.cpio.gz"; }

std::string UtilityVmCmdline() { return std::string(kBaseCmdline) + " quiet"; }

}  // namespace uvm::runtime
