#include "vmm/console.h"

#include <gtest/gtest.h>

#include <string>

namespace uvm::vmm {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(PanicWatcherTest, SeesBannerAcrossChunks) {
  PanicWatcher w;
  w.Feed(Bytes("[    1.0] Kernel pan"));
  EXPECT_FALSE(w.panicked());
  w.Feed(Bytes("ic - not syncing: Attempted to kill init!\n"));
  EXPECT_TRUE(w.panicked());
}

TEST(PanicWatcherTest, OrdinaryOutputIsNotAPanic) {
  PanicWatcher w;
  w.Feed(Bytes("Kernel command line: panic=1\nKernel panic is a phrase\n"));
  EXPECT_FALSE(w.panicked());
}

}  // namespace
}  // namespace uvm::vmm
