#include "runtime/host_check.h"

#include <gtest/gtest.h>

namespace uvm::runtime {
namespace {

constexpr char kModules[] =
    "kvm_amd 155648 2 - Live 0x0000000000000000\n"
    "ccp 118784 1 kvm_amd, Live 0x0000000000000000\n"
    "kvm 1146880 1 kvm_amd, Live 0x0000000000000000\n";

TEST(HostVerdictKeyTest, NamesTheBootAndTheKvmModulesButNotTheirUseCounts) {
  const std::string key = HostVerdictKey("1b2c\n", kModules);
  EXPECT_EQ(key, "1b2c\nkvm_amd 155648\nkvm 1146880\n");
  // Every running VM holds a reference: the count must not make the remembered answer stale.
  constexpr char kBusy[] =
      "kvm_amd 155648 9 - Live 0x0000000000000000\n"
      "kvm 1146880 7 kvm_amd, Live 0x0000000000000000\n";
  EXPECT_EQ(HostVerdictKey("1b2c", kBusy), key);
  // Another module (kvm_pvm instead of kvm_amd) or another boot is another host.
  EXPECT_NE(HostVerdictKey("1b2c", "kvm_pvm 155648 2 - Live 0x0\nkvm 1146880 1 - Live 0x0\n"), key);
  EXPECT_NE(HostVerdictKey("ffff", kModules), key);
  EXPECT_EQ(HostVerdictKey("\n", kModules), "");
}

}  // namespace
}  // namespace uvm::runtime
