#include "probe/check/location_hints.hpp"

#include <gtest/gtest.h>

#include "probe/check/hints.hpp"
#include "probe/check/remediation.hpp"
#include "tests/support/node_facts.hpp"

namespace reachprobe {
namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

aws::NodeFacts facts() { return test::demo_node_facts(); }

CheckRow service_row(const std::string& service, const std::string& host,
                     const std::string& address, Outcome outcome = Outcome::Timeout) {
  auto t = std::make_shared<Target>();
  t->name = "aws-x";
  t->type = ProbeType::Tls;
  t->hosts = {host};
  t->ports = {443};
  t->aws_service = "com.amazonaws.eu-west-1." + service;
  CheckRow r{expand_endpoints({t}).front(), {}, {}};
  r.result.outcome = outcome;
  r.result.address = address;
  return r;
}

CheckRow endpoint_row(const std::string& address, Outcome outcome = Outcome::Timeout) {
  auto t = std::make_shared<Target>();
  t->name = "apiserver-endpoint";
  t->type = ProbeType::Tcp;
  t->hosts = {"0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"};
  t->ports = {443};
  t->cluster_endpoint = true;
  t->kubeconfig = "/var/lib/kubelet/kubeconfig";
  CheckRow r{expand_endpoints({t}).front(), {}, {}};
  r.result.outcome = outcome;
  r.result.address = address;
  return r;
}

TEST(LocationHints, AServiceNameInsideTheVpcIsTheInterfaceEndpointsSecurityGroup) {
  const auto f = facts();
  const auto r = service_row("ecr.api", "api.ecr.eu-west-1.amazonaws.com", "10.0.20.7");
  const auto where = location_hint(r.endpoint, r.result, &f);
  ASSERT_TRUE(where.applies);
  EXPECT_TRUE(where.known);
  EXPECT_TRUE(where.inside_vpc);
  EXPECT_TRUE(has(where.text, "inside the VPC (10.0.0.0/16)")) << where.text;
  EXPECT_TRUE(has(where.text,
                  "endpoint's security group must allow TCP 443 from the node "
                  "security group sg-0a1b2c3d4e5f60718"))
      << where.text;
  EXPECT_TRUE(has(where.text, "Name=service-name,Values=com.amazonaws.eu-west-1.ecr.api"))
      << where.text;
  EXPECT_EQ(hint_for(r.endpoint, r.result, &f), where.text);
}

TEST(LocationHints, AServiceNameOutsideTheVpcIsNoEndpointOrPrivateDnsOff) {
  const auto f = facts();
  const auto r = service_row("sts", "sts.eu-west-1.amazonaws.com", "52.94.1.2");
  const auto where = location_hint(r.endpoint, r.result, &f);
  ASSERT_TRUE(where.applies);
  EXPECT_FALSE(where.inside_vpc);
  EXPECT_TRUE(has(where.text, "outside the VPC")) << where.text;
  EXPECT_TRUE(has(where.text,
                  "no interface endpoint for com.amazonaws.eu-west-1.sts with "
                  "private DNS on"))
      << where.text;
  EXPECT_FALSE(has(where.text, "endpoint's security group must")) << where.text;
}

TEST(LocationHints, S3OutsideTheVpcIsTheGatewayEndpointRoute) {
  const auto f = facts();
  const auto r = service_row("s3", "s3.eu-west-1.amazonaws.com", "52.218.1.2");
  const auto where = location_hint(r.endpoint, r.result, &f);
  EXPECT_TRUE(has(where.text, "gateway endpoint")) << where.text;
  EXPECT_TRUE(has(where.text, "Name=association.subnet-id,Values=subnet-0aa11bb22cc33dd44"))
      << where.text;
}

TEST(LocationHints, WithoutTheVpcCidrsBothReadingsAreGiven) {
  const auto r = service_row("ec2", "ec2.eu-west-1.amazonaws.com", "10.0.20.7");
  const auto where = location_hint(r.endpoint, r.result, nullptr);
  ASSERT_TRUE(where.applies);
  EXPECT_FALSE(where.known);
  EXPECT_TRUE(has(where.text, "Inside the VPC, an interface VPC endpoint")) << where.text;
  EXPECT_TRUE(has(where.text, "Outside, this VPC has no interface endpoint")) << where.text;
}

TEST(LocationHints, OnlyFailuresToReachTheAddressAreAboutWhereItIs) {
  const auto f = facts();
  for (Outcome o : {Outcome::Ok, Outcome::Refused, Outcome::TlsError, Outcome::NxDomain}) {
    const auto r = service_row("ecr.api", "api.ecr.eu-west-1.amazonaws.com", "10.0.20.7", o);
    EXPECT_FALSE(location_hint(r.endpoint, r.result, &f).applies) << to_string(o);
  }
  auto stalled = service_row("ecr.api", "api.ecr.eu-west-1.amazonaws.com", "10.0.20.7");
  stalled.result.set_phase(Phase::Tls, std::chrono::seconds(2));
  EXPECT_FALSE(location_hint(stalled.endpoint, stalled.result, &f).applies);
}

TEST(LocationHints, TheClusterEndpointOutsideTheVpcIsThePublicAccessCidrs) {
  const auto f = facts();
  const auto r = endpoint_row("3.5.7.9");
  const auto where = location_hint(r.endpoint, r.result, &f);
  ASSERT_TRUE(where.applies);
  EXPECT_FALSE(where.node_or_cluster_group_fix);
  EXPECT_TRUE(has(where.text, "public access CIDRs")) << where.text;
  EXPECT_TRUE(has(where.text, "private endpoint access")) << where.text;
  EXPECT_TRUE(has(where.text, "from /var/lib/kubelet/kubeconfig")) << where.text;

  // No security-group rule for it: the endpoint's access settings are the fix.
  const auto plan = plan_remediation({r}, &f);
  EXPECT_TRUE(plan.rules.empty());
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_TRUE(has(plan.skipped[0].why, "public access CIDRs")) << plan.skipped[0].why;
}

TEST(LocationHints, TheClusterEndpointInsideTheVpcIsTheClusterGroupRule) {
  const auto f = facts();
  const auto r = endpoint_row("10.0.40.12");
  const auto where = location_hint(r.endpoint, r.result, &f);
  ASSERT_TRUE(where.applies);
  EXPECT_TRUE(where.node_or_cluster_group_fix);
  EXPECT_TRUE(has(where.text, "private endpoint access is on")) << where.text;
  EXPECT_TRUE(has(where.text, "cluster security group must allow TCP 443")) << where.text;
  const auto plan = plan_remediation({r}, &f);
  ASSERT_EQ(plan.rules.size(), 1u);
  EXPECT_EQ(plan.rules[0].kind, RuleKind::NodeToApiServer);
}

TEST(LocationHints, AnAwsServiceOutsideTheVpcGetsNoSecurityGroupRule) {
  const auto f = facts();
  const auto plan =
      plan_remediation({service_row("ecr.api", "api.ecr.eu-west-1.amazonaws.com", "52.1.2.3")}, &f);
  EXPECT_TRUE(plan.rules.empty());
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_TRUE(has(plan.skipped[0].why, "no interface endpoint")) << plan.skipped[0].why;
}

// A target's own hint adds to where the name resolves, never hides it.
TEST(LocationHints, ATargetsOwnHintAddsToTheLocation) {
  const auto f = facts();
  auto r = service_row("ecr.api", "api.ecr.eu-west-1.amazonaws.com", "10.0.20.7");
  auto t = std::make_shared<Target>(*r.endpoint.target);
  t->hint = "ask the platform team";
  r.endpoint.target = t;
  const auto h = hint_for(r.endpoint, r.result, &f);
  EXPECT_TRUE(h.starts_with("api.ecr.eu-west-1.amazonaws.com resolves to 10.0.20.7, inside the VPC"))
      << h;
  EXPECT_TRUE(h.ends_with(". " + t->name + ": ask the platform team")) << h;
}

}  // namespace
}  // namespace reachprobe
