// libFuzzer target: ApplyLayer() on arbitrary bytes (a layer is whatever the image's maker put
// in it; gzip detection, zlib, libarchive's tar reader, whiteouts, opaque directories, hard links
// and symlinks all see hostile input). Each input is applied twice (as a lower and an upper
// layer) into a fresh directory; it must succeed or fail with a one-line error, and nothing may
// appear outside that directory: a sibling canary directory is checked after every input.
//
// Owners are not applied (preserve_owner=false). Run it as an unprivileged user where possible:
// ApplyLayer's confinement is what is being tested.
#include <dirent.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/fs.h"
#include "store/layer_apply.h"

namespace {

std::string g_base;

size_t Entries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) __builtin_trap();
  size_t n = 0;
  while (struct dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/uvm-layer-fuzz-XXXXXX";
  if (!::mkdtemp(tmpl)) __builtin_trap();
  g_base = tmpl;
  ::mkdir((g_base + "/canary").c_str(), 0755);
  std::atexit([] { (void)uvm::RemoveTree(g_base); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace uvm::store;
  const std::string root = g_base + "/root";
  if (::mkdir(root.c_str(), 0755) != 0) __builtin_trap();
  ApplyOptions options;
  options.preserve_owner = false;
  for (int pass = 0; pass < 2; ++pass) {
    uvm::UniqueFd fd(::memfd_create("layer", MFD_CLOEXEC));
    if (::write(fd.get(), data, size) != static_cast<ssize_t>(size)) __builtin_trap();
    ::lseek(fd.get(), 0, SEEK_SET);
    auto stream = LayerStream::Open(std::move(fd), "layer");
    if (!stream) break;
    auto r = ApplyLayer(**stream, root, options);
    if (!r && r.error().message.find('\n') != std::string::npos) __builtin_trap();
  }
  if (Entries(g_base) != 2 || Entries(g_base + "/canary") != 0) __builtin_trap();
  if (!uvm::RemoveTree(root)) __builtin_trap();
  return 0;
}
