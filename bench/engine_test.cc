#include "bench/engine.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace uvm::bench {
namespace {

// The processes standing for a container: conmon and everything below it, however deep, and
// nothing beside it.
TEST(EngineBenchTest, ProcessTreeIsTheRootAndEverythingBelowIt) {
  const std::map<pid_t, pid_t> parent_of = {{1, 0},   {10, 1}, {11, 10}, {12, 11},
                                            {13, 10}, {20, 1}, {21, 20}};
  std::vector<pid_t> tree = ProcessTree(10, parent_of);
  std::sort(tree.begin(), tree.end());
  EXPECT_EQ(tree, (std::vector<pid_t>{10, 11, 12, 13}));
  EXPECT_EQ(ProcessTree(99, parent_of), (std::vector<pid_t>{99}));
}

}  // namespace
}  // namespace uvm::bench
