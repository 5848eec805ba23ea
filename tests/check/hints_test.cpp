#include "probe/check/hints.hpp"

#include <gtest/gtest.h>

namespace reachprobe {
namespace {

Endpoint endpoint(std::uint16_t port, std::string own_hint = "") {
  auto t = std::make_shared<Target>();
  t->name = "cp";
  t->hosts = {"10.0.0.10"};
  t->ports = {port};
  t->hint = std::move(own_hint);
  return expand_endpoints({t}).front();
}

ProbeResult result(Outcome o) {
  ProbeResult r;
  r.outcome = o;
  return r;
}

TEST(Hints, OkHasNoHint) { EXPECT_EQ(hint_for(endpoint(443), result(Outcome::Ok)), ""); }

TEST(Hints, WebhookPortTimeoutNamesTheSecurityGroupRuleAndTheInboundProbe) {
  auto h = hint_for(endpoint(9443), result(Outcome::Timeout));
  EXPECT_NE(h.find("TCP 9443 inbound from the cluster security group"), std::string::npos) << h;
  EXPECT_NE(h.find("type: inbound"), std::string::npos) << h;
}

TEST(Hints, KubeletPortPointsToTheKubeletProbe) {
  auto h = hint_for(endpoint(10250), result(Outcome::Timeout));
  EXPECT_NE(h.find("10250"), std::string::npos);
  EXPECT_NE(h.find("type: kubelet"), std::string::npos);
}

TEST(Hints, TargetHintWins) {
  EXPECT_EQ(hint_for(endpoint(9443, "ask the network team"), result(Outcome::Timeout)),
            "ask the network team");
}

TEST(Hints, EveryFailureHasAHint) {
  for (Outcome o : kAllOutcomes) {
    if (o == Outcome::Ok) continue;
    EXPECT_FALSE(hint_for(endpoint(12345), result(o)).empty()) << to_string(o);
  }
}

}  // namespace
}  // namespace reachprobe
