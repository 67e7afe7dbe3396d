#include "base/inline_vector.h"

#include <gtest/gtest.h>

#include <span>
#include <utility>

namespace uvm {
namespace {

struct Item {
  int a;
  long b;
};

std::vector<int> Values(const InlineVector<Item, 2>& v) {
  std::vector<int> out;
  for (const Item& i : v) out.push_back(i.a);
  return out;
}

InlineVector<Item, 2> Filled(int n) {
  InlineVector<Item, 2> v;
  for (int i = 0; i < n; ++i) v.push_back({i, 10L * i});
  return v;
}

TEST(InlineVectorTest, HoldsElementsInlineThenSpillsToTheHeapInOrder) {
  InlineVector<Item, 2> v;
  EXPECT_TRUE(v.empty());
  v.push_back({1, 10});
  v.push_back({2, 20});
  EXPECT_EQ(v.capacity(), 2u);
  const Item* inline_data = v.data();
  v.push_back({3, 30});
  EXPECT_NE(v.data(), inline_data);
  EXPECT_GE(v.capacity(), 3u);
  for (int i = 4; i <= 40; ++i) v.push_back({i, 10L * i});
  ASSERT_EQ(v.size(), 40u);
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(v[i].a, i + 1);
    EXPECT_EQ(v[i].b, 10L * (i + 1));
  }
  EXPECT_EQ(v.front().a, 1);
  EXPECT_EQ(v.back().a, 40);
}

TEST(InlineVectorTest, PushBackOfItsOwnElementWhileGrowing) {
  InlineVector<Item, 2> v = Filled(2);
  v.push_back(v[0]);  // the reference points into the storage that is about to move
  EXPECT_EQ(Values(v), (std::vector<int>{0, 1, 0}));
}

TEST(InlineVectorTest, CopiesAreIndependentInlineAndOnTheHeap) {
  for (int n : {0, 1, 2, 5}) {
    InlineVector<Item, 2> v = Filled(n);
    InlineVector<Item, 2> copy(v);
    InlineVector<Item, 2> assigned;
    assigned.push_back({99, 0});
    assigned = v;
    v.push_back({77, 0});
    v[0].a = -1;
    EXPECT_EQ(copy.size(), static_cast<size_t>(n));
    EXPECT_EQ(assigned.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(copy[i].a, i);
      EXPECT_EQ(assigned[i].a, i);
    }
  }
}

TEST(InlineVectorTest, MovesLeaveTheSourceEmpty) {
  for (int n : {1, 2, 3, 9}) {
    InlineVector<Item, 2> v = Filled(n);
    InlineVector<Item, 2> moved(std::move(v));
    EXPECT_TRUE(v.empty());  // NOLINT(bugprone-use-after-move): the state is specified
    EXPECT_EQ(moved.size(), static_cast<size_t>(n));
    InlineVector<Item, 2> target = Filled(5);
    target = std::move(moved);
    EXPECT_TRUE(moved.empty());  // NOLINT(bugprone-use-after-move)
    ASSERT_EQ(target.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) EXPECT_EQ(target[i].a, i);
    // A moved-from vector is usable again.
    v.push_back({5, 5});
    EXPECT_EQ(Values(v), (std::vector<int>{5}));
  }
}

TEST(InlineVectorTest, EraseKeepsTheOrderOfTheRest) {
  InlineVector<Item, 2> v = Filled(5);
  auto next = v.erase(v.begin());
  EXPECT_EQ(next->a, 1);
  EXPECT_EQ(Values(v), (std::vector<int>{1, 2, 3, 4}));
  v.erase(v.begin() + 2);
  EXPECT_EQ(Values(v), (std::vector<int>{1, 2, 4}));
  v.erase(v.end() - 1);
  EXPECT_EQ(Values(v), (std::vector<int>{1, 2}));
}

TEST(InlineVectorTest, ClearKeepsCapacityAndReverseIterationWorks) {
  InlineVector<Item, 2> v = Filled(6);
  const size_t cap = v.capacity();
  v.clear();
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.capacity(), cap);
  v.push_back({7, 0});
  v.push_back({8, 0});
  std::vector<int> backwards;
  for (auto it = v.rbegin(); it != v.rend(); ++it) backwards.push_back(it->a);
  EXPECT_EQ(backwards, (std::vector<int>{8, 7}));
}

TEST(InlineVectorTest, BuildsFromAListInlineOrOnTheHeap) {
  InlineVector<Item, 2> v = {{1, 1}, {2, 2}};
  EXPECT_EQ(Values(v), (std::vector<int>{1, 2}));
  v = {{3, 3}, {4, 4}, {5, 5}};
  EXPECT_EQ(Values(v), (std::vector<int>{3, 4, 5}));
}

TEST(InlineVectorTest, ViewsAsASpan) {
  const InlineVector<Item, 2> v = Filled(3);
  std::span<const Item> s(v);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s.data(), v.data());
  EXPECT_EQ(s[2].b, 20);
}

}  // namespace
}  // namespace uvm
