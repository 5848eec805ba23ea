#include "probe/core/rendezvous.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "probe/core/stable_hash.hpp"

namespace reachprobe {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> keys(int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i)
    out.push_back("10.1." + std::to_string(i / 200) + "." + std::to_string(i % 200) + ":9093");
  return out;
}

TEST(RendezvousChoice, AllWithinTheLimitNoneForZero) {
  EXPECT_THAT(rendezvous_choice(keys(3), 3, "n"), ElementsAre(0u, 1u, 2u));
  EXPECT_THAT(rendezvous_choice(keys(3), 64, "n"), ElementsAre(0u, 1u, 2u));
  EXPECT_THAT(rendezvous_choice(keys(3), 0, "n"), IsEmpty());
  EXPECT_THAT(rendezvous_choice({}, 5, "n"), IsEmpty());
}

// The choice is the highest stable_hash(node + '\x1f' + key): the one every release made,
// so an upgrade does not move a node's choice (and its series) elsewhere.
TEST(RendezvousChoice, IsTheHighestScoresInKeyOrder) {
  const auto all = keys(1500);
  const std::string node = "ip-10-0-1-17.ec2.internal";
  std::vector<std::pair<std::uint64_t, std::size_t>> scored;
  for (std::size_t i = 0; i < all.size(); ++i) {
    scored.emplace_back(stable_hash(node + '\x1f' + all[i]), i);
  }
  std::sort(scored.rbegin(), scored.rend());
  std::vector<std::size_t> expected;
  for (std::size_t i = 0; i < 64; ++i) expected.push_back(scored[i].second);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(rendezvous_choice(all, 64, node), expected);
}

TEST(RendezvousChoice, NodesTogetherCoverTheKeys) {
  // 1,500 addresses, 64 per node: 50 nodes (3,200 choices) leave few addresses unprobed.
  const auto all = keys(1500);
  std::set<std::size_t> covered;
  for (int node = 0; node < 50; ++node) {
    auto chosen = rendezvous_choice(all, 64, "node-" + std::to_string(node));
    ASSERT_EQ(chosen.size(), 64u);
    EXPECT_TRUE(std::is_sorted(chosen.begin(), chosen.end()));
    covered.insert(chosen.begin(), chosen.end());
  }
  // Expected coverage 1 - (1 - 64/1500)^50 = 89%.
  EXPECT_GT(covered.size(), 1250u);
}

}  // namespace
}  // namespace reachprobe
