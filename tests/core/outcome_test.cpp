#include "probe/core/outcome.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace reachprobe {
namespace {

TEST(Outcome, EveryOutcomeRoundTripsThroughItsSpecName) {
  std::set<std::string> names;
  for (Outcome o : kAllOutcomes) {
    auto name = std::string(to_string(o));
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
    EXPECT_EQ(parse_outcome(name), o);
  }
  EXPECT_EQ(names, (std::set<std::string>{"ok", "timeout", "refused", "unreachable", "reset",
                                          "nxdomain", "servfail", "dns_refused", "no_answer",
                                          "dns_timeout", "tls_error", "bad_status", "open", "error"}));
  EXPECT_EQ(parse_outcome("OK"), std::nullopt);
}

}  // namespace
}  // namespace reachprobe
