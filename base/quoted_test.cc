#include "base/quoted.h"

#include <gtest/gtest.h>

namespace uvm {
namespace {

TEST(QuotedTest, KeepsTextOnOneLineAndShort) {
  EXPECT_EQ(Quoted("sha256:ab"), "\"sha256:ab\"");
  EXPECT_EQ(Quoted("a\nb\"c\\d\x7f\r\t\x01"), "\"a\\nb\\\"c\\\\d\\x7f\\r\\t\\x01\"");
  EXPECT_EQ(Quoted(std::string_view("\0", 1)), "\"\\x00\"");
  const std::string quoted = Quoted(std::string(1000, 'x'));
  EXPECT_EQ(quoted.size(), kMaxQuoted + 5);  // two quotes and "..."
  EXPECT_EQ(quoted.substr(quoted.size() - 4), "...\"");
}

}  // namespace
}  // namespace uvm
