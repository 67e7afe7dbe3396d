#include "base/quoted.h"

#include <gtest/gtest.h>

namespace uvm {
namespace {

TEST(QuotedTest, KeepsTextOnOneLineAndShort) {
  EXPECT_EQ(Quoted("sha256:ab"), "\"sha256:ab\"");
  EXPECT_EQ(Quoted("a\nb\"c\\d\x7f"), "\"a\\x0ab\\\"c\\\\d\\x7f\"");
  EXPECT_EQ(Quoted(std::string_view("\0", 1)), "\"\\x00\"");
  const std::string quoted = Quoted(std::string(1000, 'x'));
  EXPECT_EQ(quoted.size(), kMaxQuoted + 5);  // two quotes and "..."
  EXPECT_EQ(quoted.substr(quoted.size() - 4), "...\"");
}

}  // namespace
}  // namespace uvm
