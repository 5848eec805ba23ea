#include "probe/check/remediation.hpp"

#include <gtest/gtest.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <sstream>

#include "tests/support/node_facts.hpp"

namespace reachprobe {
namespace {

namespace pt = boost::property_tree;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// An HCL attribute line, however `terraform fmt` aligned it.
bool attr(const std::string& text, const std::string& name, const std::string& value) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    auto left = line.substr(0, eq);
    left.erase(0, left.find_first_not_of(' '));
    left.erase(left.find_last_not_of(' ') + 1);
    if (left == name && line.substr(eq + 3) == value) return true;
  }
  return false;
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto p = text.find(part); p != std::string::npos; p = text.find(part, p + 1)) ++n;
  return n;
}

aws::NodeFacts facts() { return test::demo_node_facts(); }

// A row of a target of `type` to host:port that ended in `outcome`, contacting `address`.
CheckRow row(const std::string& name, ProbeType type, const std::string& host, std::uint16_t port,
             Outcome outcome, const std::string& address = "", const std::string& message = "") {
  auto t = std::make_shared<Target>();
  t->name = name;
  t->type = type;
  t->hosts = {host};
  t->ports = {port};
  CheckRow r{expand_endpoints({t}).front(), {}, {}};
  r.result.outcome = outcome;
  r.result.address = address.empty() ? host : address;
  r.result.message = message;
  return r;
}

TEST(Remediation, TwelvePeersFailingOnePortAreOneSelfReferencingRule) {
  std::vector<CheckRow> rows;
  for (int i = 1; i <= 12; ++i) {
    rows.push_back(row("alertmanager-pods", ProbeType::Tcp, "10.0.3." + std::to_string(i), 9093,
                       Outcome::Timeout));
  }
  rows.push_back(row("alertmanager-pods", ProbeType::Tcp, "10.0.3.99", 9093, Outcome::Ok));
  const auto f = facts();
  const auto plan = plan_remediation(rows, &f);
  ASSERT_EQ(plan.rules.size(), 1u);
  const auto& rule = plan.rules[0];
  EXPECT_EQ(rule.kind, RuleKind::NodeToNode);
  EXPECT_TRUE(rule.ingress);
  EXPECT_EQ(rule.peer, RulePeer::Self);
  EXPECT_EQ(rule.port, 9093);
  EXPECT_EQ(rule.endpoints.size(), 12u);
  EXPECT_EQ(rule.broader_cidr_blocks, std::vector<std::string>{"10.0.0.0/16"});
  EXPECT_TRUE(plan.skipped.empty());

  const auto tf = render_terraform(plan);
  EXPECT_EQ(count(tf, "ingress_self_9093 = {"), 1u) << tf;
  EXPECT_TRUE(attr(tf, "self", "true")) << tf;
  EXPECT_TRUE(has(tf, "and 7 more")) << tf;  // five named, the rest counted
  EXPECT_TRUE(attr(tf, "security_group_id", "\"sg-0a1b2c3d4e5f60718\"")) << tf;
  EXPECT_TRUE(has(tf, "# broader alternative")) << tf;
  EXPECT_TRUE(has(tf, "cidr_blocks = [\"10.0.0.0/16\"]")) << tf;

  const auto cli = render_aws_cli(plan);
  EXPECT_EQ(count(cli, "\naws ec2 "), 1u) << cli;
  EXPECT_TRUE(has(cli,
                  "\naws ec2 authorize-security-group-ingress --region eu-west-1 --group-id "
                  "sg-0a1b2c3d4e5f60718 --ip-permissions "
                  "'IpProtocol=tcp,FromPort=9093,ToPort=9093,UserIdGroupPairs=[{GroupId=sg-"
                  "0a1b2c3d4e5f60718,Description=\"reachprobe: node to node TCP 9093\"}]'\n"))
      << cli;
}

// A row of a target that discovers its addresses from Service `ns`/`name`.
CheckRow discovered_row(const std::string& target, const std::string& ns, const std::string& name,
                        DiscoverAddresses addresses, const std::string& ip, std::uint16_t port,
                        Outcome outcome) {
  auto t = std::make_shared<Target>();
  t->name = target;
  t->type = ProbeType::Tcp;
  t->hosts = {ip};
  t->ports = {port};
  CheckRow r{expand_endpoints({t}).front(), {}, {}};
  // As discovery makes them: the endpoint's target says where its address came from.
  t->discover = Discover{ns, name, addresses, "", false};
  r.result.outcome = outcome;
  r.result.address = ip;
  return r;
}

TEST(Remediation, TheKubernetesServiceIsTheApiServerAndOtherClusterIpsAreTheirPods) {
  const auto f = facts();
  // The control-plane ENIs are in the VPC, but no node -> node rule opens them.
  auto plan = plan_remediation(
      {discovered_row("control-plane-enis", "default", "kubernetes", DiscoverAddresses::Endpoints,
                      "10.0.9.12", 443, Outcome::Timeout),
       discovered_row("apiserver", "default", "kubernetes", DiscoverAddresses::ClusterIp,
                      "172.20.0.1", 443, Outcome::Timeout)},
      &f);
  ASSERT_EQ(plan.rules.size(), 1u);
  EXPECT_EQ(plan.rules[0].kind, RuleKind::NodeToApiServer);
  EXPECT_TRUE(plan.rules[0].on_cluster_group);
  EXPECT_EQ(plan.rules[0].endpoints.size(), 2u);
  // kube-dns's ClusterIP (outside the VPC) leads to the CoreDNS pods: node -> node, not an
  // egress rule to the ClusterIP.
  plan = plan_remediation(
      {discovered_row("coredns-tcp", "kube-system", "kube-dns", DiscoverAddresses::ClusterIp,
                      "172.20.0.10", 53, Outcome::Timeout)},
      &f);
  ASSERT_EQ(plan.rules.size(), 1u);
  EXPECT_EQ(plan.rules[0].kind, RuleKind::NodeToNode);
  EXPECT_EQ(plan.rules[0].peer, RulePeer::Self);
  EXPECT_EQ(plan.rules[0].port, 53);
  EXPECT_TRUE(has(plan.rules[0].note, "Service kube-system/kube-dns")) << plan.rules[0].note;
}

TEST(Remediation, SeveralCandidateGroupsSayWhichIsTakenAndWhy) {
  auto f = facts();
  f.security_groups.insert(f.security_groups.begin(), {"sg-01111111111111111", "bastion-ssh"});
  const auto plan = plan_remediation(
      {row("webhook-inbound", ProbeType::Inbound, "10.0.1.5", 9443, Outcome::Timeout)}, &f);
  EXPECT_EQ(plan.node_group.id, "sg-0a1b2c3d4e5f60718");
  const auto tf = render_terraform(plan);
  EXPECT_TRUE(has(tf, "taken as the node security group: the only one of this node's 2")) << tf;
  EXPECT_TRUE(has(tf, "sg-01111111111111111 (bastion-ssh)")) << tf;
  EXPECT_TRUE(has(render_aws_cli(plan), "taken as the node security group"));
  const auto json = render_remediation_json(plan);
  pt::ptree tree;
  std::istringstream in(json);
  pt::read_json(in, tree);
  EXPECT_TRUE(has(tree.get<std::string>("node.node_security_group_reason"), "whose name says"));
  EXPECT_EQ(tree.get_child("node.other_security_group_ids").front().second.data(),
            "sg-01111111111111111");
  // One candidate: nothing to explain.
  const auto one = facts();
  const auto simple = plan_remediation(
      {row("webhook-inbound", ProbeType::Inbound, "10.0.1.5", 9443, Outcome::Timeout)}, &one);
  EXPECT_FALSE(has(render_terraform(simple), "taken as the node security group"));
}

TEST(Remediation, TheWebhookPortIsAnIngressRuleFromTheClusterGroup) {
  std::vector<CheckRow> rows = {
      row("webhook-inbound", ProbeType::Inbound, "10.0.1.5", 9443, Outcome::Timeout),
      row("control-plane", ProbeType::Tcp, "10.0.0.10", 9443, Outcome::Timeout)};
  const auto f = facts();
  const auto plan = plan_remediation(rows, &f);
  ASSERT_EQ(plan.rules.size(), 1u);  // both are the same missing rule
  EXPECT_EQ(plan.rules[0].kind, RuleKind::ClusterToNode);
  EXPECT_EQ(plan.rules[0].endpoints.size(), 2u);
  const auto tf = render_terraform(plan);
  EXPECT_TRUE(attr(tf, "node_security_group_additional_rules", "{")) << tf;
  EXPECT_TRUE(has(tf, "ingress_cluster_9443 = {")) << tf;
  EXPECT_TRUE(attr(tf, "source_cluster_security_group", "true")) << tf;
  EXPECT_TRUE(attr(tf, "security_group_id", "\"sg-0a1b2c3d4e5f60718\"")) << tf;
  EXPECT_TRUE(attr(tf, "source_security_group_id", "\"sg-0fedcba9876543210\"")) << tf;
  EXPECT_FALSE(has(tf, "cluster_security_group_additional_rules")) << tf;
  const auto cli = render_aws_cli(plan);
  EXPECT_TRUE(has(cli,
                  "aws ec2 authorize-security-group-ingress --region eu-west-1 --group-id "
                  "sg-0a1b2c3d4e5f60718 --ip-permissions "
                  "'IpProtocol=tcp,FromPort=9443,ToPort=9443,UserIdGroupPairs=[{GroupId=sg-"
                  "0fedcba9876543210,Description=\"reachprobe: control plane to node TCP 9443 "
                  "(admission webhook)\"}]'"))
      << cli;
}

TEST(Remediation, StsIsEgress443WithTheVpcEndpointNote) {
  std::vector<CheckRow> rows = {row("sts", ProbeType::Tls, "sts.eu-west-1.amazonaws.com", 443,
                                    Outcome::Timeout, "52.94.1.1")};
  const auto f = facts();
  const auto plan = plan_remediation(rows, &f);
  ASSERT_EQ(plan.rules.size(), 1u);
  EXPECT_EQ(plan.rules[0].kind, RuleKind::StsEgress);
  EXPECT_FALSE(plan.rules[0].ingress);
  EXPECT_EQ(plan.rules[0].cidr_blocks, std::vector<std::string>{"0.0.0.0/0"});
  EXPECT_TRUE(has(plan.rules[0].note, "sts interface VPC endpoint")) << plan.rules[0].note;
  EXPECT_TRUE(has(plan.rules[0].note, "NAT gateway")) << plan.rules[0].note;
  const auto cli = render_aws_cli(plan);
  EXPECT_TRUE(has(cli,
                  "aws ec2 authorize-security-group-egress --region eu-west-1 --group-id "
                  "sg-0a1b2c3d4e5f60718 --ip-permissions "
                  "'IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{CidrIp=0.0.0.0/0,"
                  "Description=\"reachprobe: node to STS TCP 443\"}]'"))
      << cli;
  // An interface endpoint inside the VPC needs no more than the VPC.
  std::vector<CheckRow> private_sts = {
      row("sts", ProbeType::Tls, "sts.eu-west-1.amazonaws.com", 443, Outcome::Timeout, "10.0.9.9")};
  const auto inside = plan_remediation(private_sts, &f);
  ASSERT_EQ(inside.rules.size(), 1u);
  EXPECT_EQ(inside.rules[0].cidr_blocks, std::vector<std::string>{"10.0.0.0/16"});
}

TEST(Remediation, TheApiServerIsAClusterGroupRuleFromTheNodes) {
  std::vector<CheckRow> rows = {row("api", ProbeType::Tcp, "ABC.gr7.eu-west-1.eks.amazonaws.com",
                                    443, Outcome::Timeout, "10.0.0.10")};
  const auto f = facts();
  const auto plan = plan_remediation(rows, &f);
  ASSERT_EQ(plan.rules.size(), 1u);
  EXPECT_EQ(plan.rules[0].kind, RuleKind::NodeToApiServer);
  const auto tf = render_terraform(plan);
  EXPECT_TRUE(attr(tf, "cluster_security_group_additional_rules", "{")) << tf;
  EXPECT_TRUE(attr(tf, "source_node_security_group", "true")) << tf;
  EXPECT_TRUE(attr(tf, "security_group_id", "\"sg-0fedcba9876543210\"")) << tf;
  EXPECT_TRUE(attr(tf, "source_security_group_id", "\"sg-0a1b2c3d4e5f60718\"")) << tf;
}

TEST(Remediation, OnlyFailuresASecurityGroupExplainsGetARule) {
  CheckRow stalled = row("web", ProbeType::Tls, "10.0.4.4", 443, Outcome::Timeout);
  stalled.result.set_phase(Phase::Tls, std::chrono::milliseconds(5));
  std::vector<CheckRow> rows = {
      row("control-plane", ProbeType::Tcp, "10.0.0.10", 10250, Outcome::Refused),
      row("rejected", ProbeType::Tcp, "198.19.0.1", 443, Outcome::Unreachable, "",
          "no route to host 198.19.0.1:443 (EHOSTUNREACH)"),
      row("filtered", ProbeType::Tcp, "10.0.5.5", 8080, Outcome::Unreachable, "",
          "dial tcp 10.0.5.5:8080: connect: communication administratively prohibited"),
      stalled, row("typo", ProbeType::Dns, "", 0, Outcome::NxDomain)};
  const auto f = facts();
  const auto plan = plan_remediation(rows, &f);
  ASSERT_EQ(plan.rules.size(), 1u);
  EXPECT_EQ(plan.rules[0].port, 8080);
  ASSERT_EQ(plan.skipped.size(), 4u);
  EXPECT_EQ(plan.skipped[0].endpoint.result, "refused");
  EXPECT_TRUE(has(plan.skipped[0].why, "nothing listens on TCP 10.0.0.10:10250"))
      << plan.skipped[0].why;
  EXPECT_TRUE(has(plan.skipped[1].why, "not administratively prohibited")) << plan.skipped[1].why;
  EXPECT_TRUE(has(plan.skipped[2].why, "TCP connection was set up")) << plan.skipped[2].why;
  const auto tf = render_terraform(plan);
  EXPECT_TRUE(has(tf, "# No rule for these failures:")) << tf;
  EXPECT_TRUE(has(tf, "# - control-plane 10.0.0.10:10250 refused: the path is open")) << tf;
}

TEST(Remediation, WithoutFactsThePlaceholdersSayWhatToLookFor) {
  std::vector<CheckRow> rows = {
      row("webhook-inbound", ProbeType::Inbound, "10.0.1.5", 9443, Outcome::Timeout),
      row("peer", ProbeType::Tcp, "10.0.2.2", 9093, Outcome::Timeout)};
  const auto plan = plan_remediation(rows, nullptr);
  ASSERT_EQ(plan.rules.size(), 2u);
  EXPECT_EQ(plan.rules[1].kind, RuleKind::NodeToNode);  // a private address: another node
  const auto cli = render_aws_cli(plan);
  EXPECT_TRUE(has(cli, "--group-id NODE_SG_ID")) << cli;
  EXPECT_TRUE(has(cli, "GroupId=CLUSTER_SG_ID")) << cli;
  EXPECT_TRUE(has(cli, "set `aws: {imds: true}`")) << cli;
  EXPECT_TRUE(has(cli, "clusterSecurityGroupId")) << cli;
  EXPECT_FALSE(has(cli, "--region")) << cli;
  EXPECT_TRUE(has(cli, "IpRanges=[{CidrIp=VPC_CIDR}]")) << cli;
}

TEST(Remediation, AClusterGroupNotOnTheNodeIsAPlaceholder) {
  auto f = facts();
  f.security_groups.pop_back();
  std::vector<CheckRow> rows = {
      row("webhook-inbound", ProbeType::Inbound, "10.0.1.5", 9443, Outcome::Timeout)};
  const auto tf = render_terraform(plan_remediation(rows, &f));
  EXPECT_TRUE(attr(tf, "source_security_group_id", "\"CLUSTER_SG_ID\"")) << tf;
  EXPECT_TRUE(has(tf, "eks-cluster-sg-CLUSTER-*")) << tf;
  EXPECT_TRUE(attr(tf, "source_cluster_security_group", "true")) << tf;  // the module knows it
}

TEST(Remediation, NothingToFixSaysSo) {
  std::vector<CheckRow> rows = {row("ok", ProbeType::Tcp, "10.0.0.1", 443, Outcome::Ok)};
  const auto f = facts();
  const auto tf = render_terraform(plan_remediation(rows, &f));
  EXPECT_TRUE(has(tf, "nothing to add")) << tf;
  EXPECT_FALSE(has(tf, "resource ")) << tf;
}

TEST(Remediation, JsonCarriesTheSameRules) {
  std::vector<CheckRow> rows = {
      row("webhook-inbound", ProbeType::Inbound, "10.0.1.5", 9443, Outcome::Timeout),
      row("control-plane", ProbeType::Tcp, "10.0.0.10", 10250, Outcome::Refused)};
  const auto f = facts();
  const auto json = render_remediation_json(plan_remediation(rows, &f));
  pt::ptree tree;
  std::istringstream in(json);
  ASSERT_NO_THROW(pt::read_json(in, tree)) << json;
  EXPECT_EQ(tree.get<std::string>("node.instance_id"), "i-0123456789abcdef0");
  const auto& rule = tree.get_child("rules").front().second;
  EXPECT_EQ(rule.get<std::string>("kind"), "cluster_to_node");
  EXPECT_EQ(rule.get<std::string>("direction"), "ingress");
  EXPECT_EQ(rule.get<int>("port"), 9443);
  EXPECT_EQ(rule.get<std::string>("security_group_id"), "sg-0a1b2c3d4e5f60718");
  EXPECT_EQ(rule.get<std::string>("source_security_group_id"), "sg-0fedcba9876543210");
  EXPECT_EQ(rule.get<std::string>("terraform_module_argument"),
            "node_security_group_additional_rules");
  EXPECT_EQ(rule.get_child("endpoints").size(), 1u);
  const auto& skipped = tree.get_child("no_rule").front().second;
  EXPECT_EQ(skipped.get<std::string>("result"), "refused");
}

}  // namespace
}  // namespace reachprobe

namespace reachprobe {
namespace {

TEST(Remediation, AnEgressRuleNeedsTheAddressThatWasContacted) {
  CheckRow unnamed = row("external", ProbeType::Tcp, "api.example.com", 8443, Outcome::Timeout);
  unnamed.result.address.clear();
  const auto f = facts();
  const auto plan = plan_remediation({unnamed}, &f);
  EXPECT_TRUE(plan.rules.empty());
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_TRUE(has(plan.skipped[0].why, "no address")) << plan.skipped[0].why;
  CheckRow reached =
      row("external", ProbeType::Tcp, "api.example.com", 8443, Outcome::Timeout, "203.0.113.7");
  const auto egress = plan_remediation({reached}, &f);
  ASSERT_EQ(egress.rules.size(), 1u);
  EXPECT_EQ(egress.rules[0].kind, RuleKind::NodeEgress);
  EXPECT_EQ(egress.rules[0].cidr_blocks, std::vector<std::string>{"203.0.113.7/32"});
}

}  // namespace
}  // namespace reachprobe

namespace reachprobe {
namespace {

TEST(Remediation, ADiscoveredInboundPortNamesItsConsumersAndANodeMeshKubeletIsNodeToNode) {
  auto inbound = row("webhook-inbound", ProbeType::Inbound, "10.0.1.20", 15017, Outcome::Timeout,
                     "10.0.1.20");
  inbound.endpoint.consumers = std::make_shared<const std::vector<InboundConsumer>>(
      std::vector<InboundConsumer>{{"MutatingWebhookConfiguration", "istio-sidecar-injector",
                                    "istio-system/istiod:443"}});
  // metrics-server's path: this node -> a peer's kubelet.
  auto peer_kubelet = row("node-mesh-kubelet", ProbeType::Tcp, "10.0.2.30", 10250,
                          Outcome::Timeout, "10.0.2.30");
  peer_kubelet.endpoint.peer = std::make_shared<const PeerLabels>(PeerLabels{"node-b", ""});
  const auto f = facts();
  const auto plan = plan_remediation({inbound, peer_kubelet}, &f);
  ASSERT_EQ(plan.rules.size(), 2u);
  EXPECT_EQ(plan.rules[0].kind, RuleKind::ClusterToNode);
  EXPECT_EQ(plan.rules[0].note,
            "TCP 15017 from the cluster security group, for MutatingWebhookConfiguration "
            "istio-sidecar-injector");
  EXPECT_EQ(plan.rules[1].kind, RuleKind::NodeToNode);
  EXPECT_EQ(plan.rules[1].port, 10250);
  const auto cli = render_aws_cli(plan);
  EXPECT_TRUE(has(cli, "# fixes: webhook-inbound 10.0.1.20:15017 (timeout) for "
                       "MutatingWebhookConfiguration istio-sidecar-injector"))
      << cli;
  EXPECT_TRUE(has(cli, "--group-id sg-0a1b2c3d4e5f60718 --ip-permissions "
                       "'IpProtocol=tcp,FromPort=15017,ToPort=15017,UserIdGroupPairs=[{GroupId="
                       "sg-0fedcba9876543210"))
      << cli;
  EXPECT_TRUE(has(render_terraform(plan), "for MutatingWebhookConfiguration istio-sidecar-injector"));
}

// From the pod vantage an inbound failure is the pods' security group's (or the CNI's):
// no rule on the node's group, and the skip says where the rule goes.
TEST(Remediation, AnInboundFailureFromThePodVantageNamesThePodsSecurityGroup) {
  auto t = std::make_shared<Target>();
  t->name = "webhook-inbound";
  t->type = ProbeType::Inbound;
  t->hosts = {"100.64.3.7"};
  t->ports = {9443};
  t->vantage = Vantage::Pod;
  CheckRow r{expand_endpoints({t}).front(), {}, {}};
  r.result.outcome = Outcome::Timeout;
  r.result.address = "100.64.3.7";
  const auto f = facts();
  const auto plan = plan_remediation({r}, &f);
  EXPECT_TRUE(plan.rules.empty());
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_TRUE(has(plan.skipped[0].why,
                  "allow TCP 9443 from the cluster security group in the security group of the "
                  "ENIConfig (custom networking) or of the SecurityGroupPolicy"))
      << plan.skipped[0].why;
  // The same failure from the node vantage is the node group's rule.
  t->vantage = Vantage::Node;
  CheckRow node{expand_endpoints({t}).front(), r.result, {}};
  EXPECT_EQ(plan_remediation({node}, &f).rules.size(), 1u);
}

TEST(Remediation, AnOpenPathHasNothingToAdd) {
  auto t = std::make_shared<Target>();
  t->name = "imds";
  t->type = ProbeType::Tcp;
  t->hosts = {"10.0.0.9"};
  t->ports = {80};
  CheckRow r{expand_endpoints({t}).front(), {}, {}};
  r.result.outcome = Outcome::Open;
  const auto f = facts();
  const auto plan = plan_remediation({r}, &f);
  EXPECT_TRUE(plan.rules.empty());
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_TRUE(has(plan.skipped[0].why, "a path that must be closed is open"))
      << plan.skipped[0].why;
}

}  // namespace
}  // namespace reachprobe
