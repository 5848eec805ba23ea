#include "probe/check/network_path.hpp"

#include <gtest/gtest.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <sstream>

#include "probe/check/remediation.hpp"
#include "tests/support/node_facts.hpp"

namespace reachprobe {
namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

aws::NodeFacts facts() { return test::demo_node_facts(); }

CheckRow row(const std::string& name, const std::string& address, std::uint16_t port,
             Outcome outcome) {
  auto t = std::make_shared<Target>();
  t->name = name;
  t->type = ProbeType::Tcp;
  t->hosts = {address};
  t->ports = {port};
  CheckRow r{expand_endpoints({t}).front(), {}, {}};
  r.result.outcome = outcome;
  r.result.address = address;
  return r;
}

// Two peers in 10.0.16.0/20 and one in 10.0.32.0/20, each probed on the mesh port and on
// Alertmanager's; `peer_subnet` is what the first two got on both.
std::vector<CheckRow> mesh(Outcome peer_subnet, Outcome other_subnet = Outcome::Ok) {
  std::vector<CheckRow> rows;
  for (std::uint16_t port : {9754, 9093}) {
    rows.push_back(row("mesh", "10.0.16.5", port, peer_subnet));
    rows.push_back(row("mesh", "10.0.17.9", port, peer_subnet));
    rows.push_back(row("mesh", "10.0.32.7", port, other_subnet));
  }
  return rows;
}

TEST(NetworkPath, EverythingTowardOneSubnetWhileTheSamePortsWorkElsewhereIsNaclShaped) {
  const auto f = facts();
  const auto rows = mesh(Outcome::Timeout);
  const auto found = find_network_paths(rows, &f);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].subnet, "10.0.16.0/20");
  EXPECT_EQ(found[0].addresses, (std::vector<std::string>{"10.0.16.5", "10.0.17.9"}));
  EXPECT_EQ(found[0].ports, (std::vector<std::uint16_t>{9093, 9754}));
  EXPECT_EQ(found[0].ports_working_elsewhere, (std::vector<std::uint16_t>{9093, 9754}));
  EXPECT_EQ(found[0].rows, (std::vector<std::size_t>{0, 1, 3, 4}));
  EXPECT_TRUE(has(found[0].why, "10.0.32.7:9093")) << found[0].why;
  ASSERT_GE(found[0].lookups.size(), 3u);
  EXPECT_TRUE(has(found[0].lookups[1],
                  "aws ec2 describe-network-acls --region eu-west-1 --filters "
                  "Name=association.subnet-id,Values=subnet-0aa11bb22cc33dd44,PEER_SUBNET_ID"))
      << found[0].lookups[1];
  EXPECT_TRUE(has(found[0].lookups[0], "Values=10.0.16.5,10.0.17.9")) << found[0].lookups[0];

  // No security-group rule for any of it; --remediation says so and gives the lookups.
  const auto plan = plan_remediation(rows, &f);
  EXPECT_TRUE(plan.rules.empty());
  EXPECT_EQ(plan.skipped.size(), 4u);
  EXPECT_EQ(plan.network_paths.size(), 1u);
  for (const auto& text : {render_aws_cli(plan), render_terraform(plan)}) {
    EXPECT_FALSE(has(text, "authorize-security-group")) << text;
    EXPECT_FALSE(has(text, "aws_security_group_rule")) << text;
    EXPECT_TRUE(has(text, "No failure here is one a security group rule fixes")) << text;
    EXPECT_TRUE(has(text, "network path: 10.0.16.0/20")) << text;
    EXPECT_TRUE(has(text, "describe-network-acls")) << text;
    EXPECT_TRUE(has(text, "describe-route-tables")) << text;
  }

  std::istringstream json("{\"r\": " + render_remediation_json(plan) + "}");
  boost::property_tree::ptree tree;
  ASSERT_NO_THROW(boost::property_tree::read_json(json, tree));
  const auto& paths = tree.get_child("r.network_paths");
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths.front().second.get<std::string>("subnet"), "10.0.16.0/20");
  EXPECT_EQ(paths.front().second.get_child("lookups").size(), found[0].lookups.size());
  EXPECT_EQ(tree.get_child("r.rules").size(), 0u);
}

TEST(NetworkPath, OnePortClosedEverywhereIsASecurityGroupNotANacl) {
  const auto f = facts();
  std::vector<CheckRow> rows;
  for (const char* peer : {"10.0.16.5", "10.0.17.9", "10.0.32.7"}) {
    rows.push_back(row("mesh", peer, 9754, Outcome::Ok));
    rows.push_back(row("alertmanager", peer, 9093, Outcome::Timeout));
  }
  EXPECT_TRUE(find_network_paths(rows, &f).empty());
  const auto plan = plan_remediation(rows, &f);
  ASSERT_EQ(plan.rules.size(), 1u);
  EXPECT_EQ(plan.rules[0].port, 9093);
  EXPECT_EQ(plan.rules[0].endpoints.size(), 3u);
}

TEST(NetworkPath, OneConnectionIntoTheSubnetProvesItsPathOpen) {
  const auto f = facts();
  auto rows = mesh(Outcome::Timeout);
  rows[1].result.outcome = Outcome::Refused;  // 10.0.17.9:9754 answered with an RST
  EXPECT_TRUE(find_network_paths(rows, &f).empty());
}

TEST(NetworkPath, OneSilentAddressIsAsLikelyAHostThatIsDown) {
  const auto f = facts();
  std::vector<CheckRow> rows = {row("mesh", "10.0.16.5", 9754, Outcome::Timeout),
                                row("mesh", "10.0.16.5", 9093, Outcome::Timeout),
                                row("mesh", "10.0.32.7", 9754, Outcome::Ok),
                                row("mesh", "10.0.32.7", 9093, Outcome::Ok)};
  EXPECT_TRUE(find_network_paths(rows, &f).empty());
}

TEST(NetworkPath, NothingShowsTheGroupsAllowThePortsSoNoVerdict) {
  const auto f = facts();
  std::vector<CheckRow> rows = {row("a", "10.0.16.5", 9093, Outcome::Timeout),
                                row("a", "10.0.17.9", 9093, Outcome::Timeout),
                                row("b", "10.0.32.7", 9754, Outcome::Ok)};
  EXPECT_TRUE(find_network_paths(rows, &f).empty());
}

TEST(NetworkPath, InsideThisNodesSubnetNoNaclOrRouteIsCrossed) {
  auto f = facts();
  f.subnet_cidr = "10.0.0.0/19";  // 10.0.16.5 and 10.0.17.9 are now this node's neighbours
  const auto rows = mesh(Outcome::Timeout);
  EXPECT_TRUE(find_network_paths(rows, &f).empty());
}

TEST(NetworkPath, WithoutTheSubnetOrVpcFromImdsThereIsNoVerdict) {
  const auto rows = mesh(Outcome::Timeout);
  EXPECT_TRUE(find_network_paths(rows, nullptr).empty());
  auto f = facts();
  f.subnet_cidr.clear();
  EXPECT_TRUE(find_network_paths(rows, &f).empty());
  f = facts();
  f.vpc_cidrs.clear();
  EXPECT_TRUE(find_network_paths(rows, &f).empty());
}

TEST(NetworkPath, AddressesOutsideTheVpcAreNotSubnets) {
  auto f = facts();
  f.vpc_cidrs = {"10.1.0.0/16"};
  EXPECT_TRUE(find_network_paths(mesh(Outcome::Timeout), &f).empty());
}

TEST(NetworkPath, UnreachableCountsAsBlockedAndATlsStallAsConnected) {
  const auto f = facts();
  EXPECT_EQ(find_network_paths(mesh(Outcome::Unreachable), &f).size(), 1u);
  auto rows = mesh(Outcome::Timeout);
  rows[0].result.set_phase(Phase::Tls, std::chrono::seconds(1));  // TCP was up, TLS stalled
  EXPECT_TRUE(find_network_paths(rows, &f).empty());
}

}  // namespace
}  // namespace reachprobe
