// Not every timeout is a security group. Peers are network namespaces on 198.18.0.0/15;
// the stand-in IMDS says which /28 this node's subnet is, so the peers fall into /28
// "subnets" of their own. A NACL between two subnets is an nftables drop of every TCP
// packet in each host of one subnet: everything toward it times out while the same ports
// to the other subnet connect. `check --remediation` must then print no security-group
// rule, say why, and give the NACL and route-table lookups; a port closed on every peer
// (the security-group shape) must still get its rule.
#include <gtest/gtest.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "probe/aws/node_facts.hpp"
#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/fake_imds.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/temp_dir.hpp"

namespace reachprobe::test {
namespace {

using namespace std::chrono_literals;
namespace pt = boost::property_tree;

const std::string kBinary = reachprobe_binary();
constexpr int kSubnetBits = 28;  // 4 test hosts (/30 each) per "subnet"

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class NetworkPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    // Five consecutive /30 slots span two /28s with at least two hosts in one of them.
    for (int i = 0; i < 5; ++i) hosts_.push_back(std::make_unique<TestHost>());
    std::map<std::string, std::vector<const TestHost*>> by_subnet;
    for (const auto& h : hosts_) {
      by_subnet[aws::ipv4_network(h->address(), kSubnetBits)].push_back(h.get());
    }
    for (const auto& [cidr, members] : by_subnet) {
      if (far_.empty() && members.size() >= 2) {
        far_subnet_ = cidr;
        far_ = {members[0], members[1]};
      } else if (near_ == nullptr) {
        near_ = members[0];
      }
    }
    ASSERT_EQ(far_.size(), 2u);
    ASSERT_NE(near_, nullptr);
    // The same two ports on every peer: the first listener's ephemeral ports, reused in the
    // other namespaces (each has all its ports free).
    listeners_.push_back(std::make_unique<ListenerInHost>(*near_, 0));
    listeners_.push_back(std::make_unique<ListenerInHost>(*near_, 0));
    ports_ = {listeners_[0]->port(), listeners_[1]->port()};
    for (const TestHost* h : far_) {
      for (auto port : ports_) listeners_.push_back(std::make_unique<ListenerInHost>(*h, port));
    }
  }

  std::string config() {
    const auto path = (dir_ / "mesh.yaml").string();
    std::ofstream(path) << "interval: 5s\ntimeout: 1s\naws: {imds: true}\ntargets:\n"
                        << "  - name: mesh\n    type: tcp\n    hosts: [" << far_[0]->address()
                        << ", " << far_[1]->address() << ", " << near_->address() << "]\n"
                        << "    ports: [" << ports_[0] << ", " << ports_[1] << "]\n";
    return path;
  }

  // The stand-in IMDS: this node's subnet is a /28 none of the peers is in.
  FakeImdsOptions imds_options() const {
    FakeImdsOptions o;
    o.subnet_cidr = "198.19.255.240/28";
    return o;
  }

  CommandResult check(const FakeImds& imds, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {kBinary, "check", "--config", config()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_command(argv, 30s, {imds.environment()});
  }

  std::vector<std::unique_ptr<TestHost>> hosts_;
  std::vector<std::unique_ptr<ListenerInHost>> listeners_;
  std::vector<const TestHost*> far_;
  const TestHost* near_ = nullptr;
  std::string far_subnet_;
  std::vector<std::uint16_t> ports_;
  TempDir dir_{"reachprobe-network-path"};
};

TEST_F(NetworkPathTest, EverythingTowardOneSubnetDroppedIsNaclShapedAndGetsNoSecurityGroupRule) {
  for (const TestHost* h : far_)
    h->nft(
        "table inet nacl {\n chain input { type filter hook input priority 0; meta l4proto tcp "
        "drop; }\n}\n");
  FakeImds imds(imds_options());

  auto cli = check(imds, {"--remediation", "aws-cli"});
  EXPECT_EQ(cli.exit_code, 1) << cli.err;
  EXPECT_FALSE(has(cli.out, "authorize-security-group")) << cli.out;
  EXPECT_TRUE(has(cli.out, "No failure here is one a security group rule fixes")) << cli.out;
  EXPECT_TRUE(has(cli.out, "network path: " + far_subnet_)) << cli.out;
  EXPECT_TRUE(has(cli.out,
                  "aws ec2 describe-network-acls --region eu-west-1 --filters "
                  "Name=association.subnet-id,Values=subnet-0aa11bb22cc33dd44,"
                  "PEER_SUBNET_ID"))
      << cli.out;
  EXPECT_TRUE(has(cli.out, "aws ec2 describe-route-tables --region eu-west-1")) << cli.out;

  auto terraform = check(imds, {"--remediation", "terraform"});
  EXPECT_FALSE(has(terraform.out, "aws_security_group_rule")) << terraform.out;
  EXPECT_FALSE(has(terraform.out, "_additional_rules")) << terraform.out;

  auto json = check(imds, {"--format", "json"});
  pt::ptree report;
  std::istringstream in(json.out);
  ASSERT_NO_THROW(pt::read_json(in, report)) << json.out << json.err;
  std::map<std::string, std::string> results;
  for (const auto& [_, r] : report.get_child("results")) {
    results[r.get<std::string>("endpoint")] = r.get<std::string>("result");
  }
  for (auto port : ports_) {
    const auto p = ":" + std::to_string(port);
    EXPECT_EQ(results[far_[0]->address() + p], "timeout");
    EXPECT_EQ(results[far_[1]->address() + p], "timeout");
    EXPECT_EQ(results[near_->address() + p], "ok");
  }
  EXPECT_EQ(report.get_child("remediation.rules").size(), 0u);
  const auto& paths = report.get_child("remediation.network_paths");
  ASSERT_EQ(paths.size(), 1u) << json.out;
  EXPECT_EQ(paths.front().second.get<std::string>("subnet"), far_subnet_);
  EXPECT_EQ(paths.front().second.get_child("addresses").size(), 2u);
  EXPECT_EQ(report.get_child("remediation.no_rule").size(), 4u);
}

TEST_F(NetworkPathTest, OnePortDroppedOnEveryPeerIsStillASecurityGroupRule) {
  // The security-group shape: the second port closed on every peer in both subnets, the
  // first open everywhere.
  const std::string drop =
      "table inet sg {\n chain input { type filter hook input priority 0; "
      "tcp dport " +
      std::to_string(ports_[1]) + " drop; }\n}\n";
  near_->nft(drop);
  for (const TestHost* h : far_) h->nft(drop);
  FakeImds imds(imds_options());
  auto json = check(imds, {"--format", "json"});
  EXPECT_EQ(json.exit_code, 1) << json.err;
  pt::ptree report;
  std::istringstream in(json.out);
  ASSERT_NO_THROW(pt::read_json(in, report)) << json.out << json.err;
  EXPECT_EQ(report.get_child("remediation.network_paths").size(), 0u) << json.out;
  const auto& rules = report.get_child("remediation.rules");
  ASSERT_EQ(rules.size(), 1u) << json.out;
  EXPECT_EQ(rules.front().second.get<int>("port"), ports_[1]);
  EXPECT_EQ(rules.front().second.get_child("endpoints").size(), 3u);
}

}  // namespace
}  // namespace reachprobe::test
