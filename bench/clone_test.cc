#include "bench/clone.h"

#include <gtest/gtest.h>

namespace uvm::bench {
namespace {

// Shaped like /proc/PID/smaps: two mappings of the template's memory file (the second after the
// file was unlinked), one of another file, one anonymous.
constexpr char kSmaps[] =
    "7f0000000000-7f0010000000 rw-p 00000000 00:1a 1234                       "
    "/run/r/templates/ab12/memory\n"
    "Size:             262144 kB\n"
    "Rss:                5120 kB\n"
    "Anonymous:          1024 kB\n"
    "VmFlags: rd wr mr mw me ac\n"
    "7f0010000000-7f0010001000 r--p 00000000 00:1a 99                         /run/r/other\n"
    "Rss:                   4 kB\n"
    "Anonymous:             4 kB\n"
    "7f0020000000-7f0020100000 rw-p 00000000 00:00 0 \n"
    "Rss:                1000 kB\n"
    "Anonymous:          1000 kB\n"
    "7f0030000000-7f0030100000 rw-p 10000000 00:1a 1234                       "
    "/run/r/templates/ab12/memory (deleted)\n"
    "Rss:                 100 kB\n"
    "Anonymous:            12 kB\n";

TEST(FileMappingUsageFromSmaps, SumsOnlyTheMappingsOfThatFile) {
  const FileMappingUsage u = FileMappingUsageFromSmaps(kSmaps, "/run/r/templates/ab12/memory");
  EXPECT_EQ(u.vmas, 2);
  EXPECT_EQ(u.rss_kb, 5220u);
  EXPECT_EQ(u.anonymous_kb, 1036u);
}

TEST(FileMappingUsageFromSmaps, NoMappingIsZero) {
  const FileMappingUsage u = FileMappingUsageFromSmaps(kSmaps, "/run/r/templates/ab12/mem");
  EXPECT_EQ(u.vmas, 0);
  EXPECT_EQ(u.rss_kb, 0u);
  EXPECT_EQ(FileMappingUsageFromSmaps("", "/x").vmas, 0);
  EXPECT_EQ(FileMappingUsageFromSmaps("garbage\n\n::\n", "/x").rss_kb, 0u);
}

TEST(SmapsRollupKb, FindsTheKeyNotAPrefixOfIt) {
  constexpr char kRollup[] =
      "00400000-7ffd0000 ---p 00000000 00:00 0                          [rollup]\n"
      "Rss:               30000 kB\n"
      "Anonymous:          2048 kB\n"
      "AnonHugePages:         0 kB\n";
  auto anon = SmapsRollupKb(kRollup, "Anonymous");
  ASSERT_TRUE(anon) << anon.error().message;
  EXPECT_EQ(*anon, 2048u);
  EXPECT_EQ(*SmapsRollupKb(kRollup, "AnonHugePages"), 0u);
  EXPECT_FALSE(SmapsRollupKb(kRollup, "Anon"));
}

}  // namespace
}  // namespace uvm::bench
