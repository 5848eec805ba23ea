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

TEST(Hints, AProvenFindingComesBeforeTheTargetsOwnHint) {
  // The target's hint was written for a closed path; the probe proved something else.
  auto e = endpoint(443, "node -> API server 443 is closed: open the security group");
  e.backends = std::make_shared<const ServiceBackends>(ServiceBackends{"default", "kubernetes", 0});
  auto r = result(Outcome::Refused);
  r.finding = Finding::NoReadyEndpoints;
  auto h = hint_for(e, r);
  EXPECT_NE(h.find("Service default/kubernetes has no ready endpoints"), std::string::npos) << h;
  EXPECT_EQ(h.find("security group"), std::string::npos) << h;
  r = result(Outcome::Timeout);
  r.finding = Finding::MtuBlackHole;
  h = hint_for(e, r);
  EXPECT_NE(h.find("AWS_VPC_ENI_MTU"), std::string::npos) << h;
  // Without a finding the target's hint stands.
  EXPECT_EQ(hint_for(e, result(Outcome::Refused)),
            "node -> API server 443 is closed: open the security group");
}

TEST(Hints, EveryFailureHasAHint) {
  for (Outcome o : kAllOutcomes) {
    if (o == Outcome::Ok) continue;
    EXPECT_FALSE(hint_for(endpoint(12345), result(o)).empty()) << to_string(o);
  }
}

}  // namespace
}  // namespace reachprobe

namespace reachprobe {
namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Hints, ATimeoutAfterTheTcpHandshakeIsNotBlamedOnAFirewall) {
  ProbeResult stalled = result(Outcome::Timeout);
  stalled.set_phase(Phase::Connect, std::chrono::milliseconds(1));
  stalled.set_phase(Phase::Tls, std::chrono::milliseconds(500));
  auto h = hint_for(endpoint(443), stalled);
  EXPECT_TRUE(has(h, "TCP connects, so the path is open")) << h;
  EXPECT_FALSE(has(h, "security group")) << h;
}

TEST(Hints, TlsErrorsAreExplainedByTheirReason) {
  auto tls_error = [](std::string message) {
    ProbeResult r = result(Outcome::TlsError);
    r.message = std::move(message);
    return hint_for(endpoint(443), r);
  };
  EXPECT_TRUE(has(tls_error("TLS handshake with x: certificate expired: CN=a"), "renewed"));
  EXPECT_TRUE(has(tls_error("TLS handshake with x: unknown CA: CN=a is issued by CN=b"),
                  "TLS-inspecting proxy"));
  EXPECT_TRUE(has(tls_error("TLS handshake with x: hostname mismatch: ..."), "tls.server_name"));
  EXPECT_TRUE(has(tls_error("wrong version number: the server does not speak TLS on this port"),
                  "right port"));
  EXPECT_TRUE(has(tls_error("something else"), "interception proxy"));
}

TEST(Hints, BadStatusIsExplainedByTheStatus) {
  auto status = [](int code) {
    ProbeResult r = result(Outcome::BadStatus);
    r.http_status = code;
    auto t = std::make_shared<Target>();
    t->name = "api";
    t->type = ProbeType::Http;
    t->url = "https://api.test/readyz";
    return hint_for(expand_endpoints({t}).front(), r);
  };
  EXPECT_TRUE(has(status(401), "bearer token"));
  EXPECT_TRUE(has(status(403), "RBAC"));
  EXPECT_TRUE(has(status(404), "path does not exist"));
  EXPECT_TRUE(has(status(302), "follow_redirects"));
  EXPECT_TRUE(has(status(503), "the server (or a load balancer in front of it) is failing"));
}

TEST(Hints, AnHttpTargetsPortComesFromItsUrl) {
  auto t = std::make_shared<Target>();
  t->name = "sts";
  t->type = ProbeType::Http;
  t->url = "https://sts.test/";
  auto h = hint_for(expand_endpoints({t}).front(), result(Outcome::Timeout));
  EXPECT_TRUE(has(h, "443: API server or HTTPS egress")) << h;
}

}  // namespace
}  // namespace reachprobe

namespace reachprobe {
namespace {

TEST(Hints, AnInboundTimeoutNamesTheIngressRuleToAdd) {
  auto t = std::make_shared<Target>();
  t->name = "webhook-inbound";
  t->type = ProbeType::Inbound;
  t->hosts = {"10.0.1.5"};
  t->ports = {9443};
  auto h = hint_for(expand_endpoints({t}).front(), result(Outcome::Timeout));
  EXPECT_NE(h.find("ingress rule to the node security group for TCP 9443 from the cluster "
                   "security group"),
            std::string::npos)
      << h;
  EXPECT_NE(h.find("admission webhook"), std::string::npos) << h;
  t->type = ProbeType::Kubelet;
  h = hint_for(expand_endpoints({t}).front(), result(Outcome::Timeout));
  EXPECT_NE(h.find("TCP 10250 from the cluster security group"), std::string::npos) << h;
}

}  // namespace
}  // namespace reachprobe

namespace reachprobe {
namespace {

aws::NodeFacts node_with_groups(bool cluster_group) {
  aws::NodeFacts f;
  f.instance_id = "i-0123456789abcdef0";
  f.security_groups = {{"sg-0a1b2c3d4e5f60718", "demo-node"}};
  if (cluster_group) f.security_groups.push_back({"sg-0fedcba9876543210", "eks-cluster-sg-demo-1"});
  return f;
}

TEST(Hints, WithImdsFactsTheRuleNamesTheGroupIds) {
  const auto f = node_with_groups(true);
  auto inbound = std::make_shared<Target>();
  inbound->name = "webhook-inbound";
  inbound->type = ProbeType::Inbound;
  inbound->hosts = {"10.0.1.5"};
  inbound->ports = {9443};
  const auto h = hint_for(expand_endpoints({inbound}).front(), result(Outcome::Timeout), &f);
  EXPECT_NE(h.find("add to sg-0a1b2c3d4e5f60718 demo-node (this node's security group) an "
                   "ingress rule for TCP 9443 from the cluster security group "
                   "sg-0fedcba9876543210 (eks-cluster-sg-demo-1)"),
            std::string::npos)
      << h;
  const auto tcp = hint_for(endpoint(9443), result(Outcome::Timeout), &f);
  EXPECT_NE(tcp.find("add to sg-0a1b2c3d4e5f60718"), std::string::npos) << tcp;
}

TEST(Hints, AClusterGroupNotOnTheNodeIsNamedByWhatToLookFor) {
  const auto f = node_with_groups(false);
  const auto h = hint_for(endpoint(10250), result(Outcome::Timeout), &f);
  EXPECT_NE(h.find("add to sg-0a1b2c3d4e5f60718"), std::string::npos) << h;
  EXPECT_NE(h.find("eks-cluster-sg-CLUSTER-*"), std::string::npos) << h;
}

}  // namespace
}  // namespace reachprobe
