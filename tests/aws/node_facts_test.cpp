#include "probe/aws/node_facts.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace reachprobe::aws {
namespace {

TEST(NodeFacts, ValuesAreCheckedByShape) {
  EXPECT_TRUE(is_region("eu-west-1"));
  EXPECT_TRUE(is_region("us-gov-west-1"));
  EXPECT_FALSE(is_region("eu-west"));
  EXPECT_FALSE(is_region("<html>"));
  EXPECT_TRUE(is_availability_zone("us-west-2-lax-1a"));
  EXPECT_FALSE(is_availability_zone("eu west 1a"));
  EXPECT_TRUE(is_aws_id("sg-0a1b2c3d4e5f60718", "sg"));
  EXPECT_TRUE(is_aws_id("i-0123abcd", "i"));
  EXPECT_FALSE(is_aws_id("sg-xyz12345", "sg"));
  EXPECT_FALSE(is_aws_id("subnet-0aa11bb22cc33dd44", "sg"));
  EXPECT_TRUE(is_mac("0a:1b:2c:3d:4e:5f"));
  EXPECT_FALSE(is_mac("0a:1b:2c:3d:4e"));
  EXPECT_TRUE(is_ipv4_cidr("10.0.0.0/16"));
  EXPECT_FALSE(is_ipv4_cidr("10.0.0.0/33"));
  EXPECT_FALSE(is_ipv4_cidr("10.0.0.0"));
}

TEST(NodeFacts, VpcMembershipByCidr) {
  NodeFacts f;
  f.vpc_cidrs = {"10.0.0.0/16", "100.64.0.0/16"};
  EXPECT_TRUE(f.in_vpc("10.0.255.1"));
  EXPECT_TRUE(f.in_vpc("100.64.3.4"));
  EXPECT_FALSE(f.in_vpc("10.1.0.1"));
  EXPECT_FALSE(f.in_vpc("not-an-ip"));
  EXPECT_TRUE(ipv4_in_cidr("1.2.3.4", "0.0.0.0/0"));
}

TEST(NodeFacts, TheClusterGroupIsTheEksClusterSgAndTheNodeGroupAnother) {
  NodeFacts f;
  f.security_groups = {{"sg-0fedcba9876543210", "eks-cluster-sg-demo-1"},
                       {"sg-0a1b2c3d4e5f60718", "demo-node"}};
  EXPECT_EQ(f.cluster_security_group()->id, "sg-0fedcba9876543210");
  EXPECT_EQ(f.node_security_group()->id, "sg-0a1b2c3d4e5f60718");
  f.security_groups.pop_back();  // a managed node group with the cluster group only
  EXPECT_EQ(f.node_security_group()->id, "sg-0fedcba9876543210");
  f.security_groups.clear();
  EXPECT_EQ(f.node_security_group(), nullptr);
  EXPECT_EQ(f.cluster_security_group(), nullptr);
}

// Every order IMDS could list `groups` in gives the same choice.
void expect_same_choice_in_every_order(std::vector<SecurityGroup> groups,
                                       const std::string& expected) {
  std::sort(groups.begin(), groups.end(),
            [](const SecurityGroup& a, const SecurityGroup& b) { return a.id < b.id; });
  int orders = 0;
  do {
    NodeFacts f;
    f.security_groups = groups;
    const auto choice = f.choose_node_security_group();
    ASSERT_NE(choice.chosen, nullptr);
    EXPECT_EQ(choice.chosen->id, expected) << "order " << orders;
    EXPECT_EQ(f.node_security_group(), choice.chosen);
    ++orders;
  } while (std::next_permutation(
      groups.begin(), groups.end(),
      [](const SecurityGroup& a, const SecurityGroup& b) { return a.id < b.id; }));
  EXPECT_GT(orders, 1);
}

TEST(NodeFacts, TheNodeGroupIsTheOneWhoseNameSaysNodeInWhateverOrderImdsListsThem) {
  // terraform-aws-modules/eks: CLUSTER-node-*, beside an extra group for SSH and the
  // cluster group.
  const std::vector<SecurityGroup> groups = {{"sg-0fedcba9876543210", "eks-cluster-sg-demo-1"},
                                             {"sg-01111111111111111", "bastion-ssh"},
                                             {"sg-0a1b2c3d4e5f60718", "demo-node-20261130"}};
  expect_same_choice_in_every_order(groups, "sg-0a1b2c3d4e5f60718");
  NodeFacts f;
  f.security_groups = groups;
  const auto choice = f.choose_node_security_group();
  EXPECT_EQ(choice.reason,
            "the only one of this node's 2 security groups (besides the cluster group) whose "
            "name says \"node\"");
  ASSERT_EQ(choice.others.size(), 1u);
  EXPECT_EQ(choice.others[0]->id, "sg-01111111111111111");
  // eksctl: the node group's own and the shared one both say so: the lowest id.
  expect_same_choice_in_every_order(
      {{"sg-0bbbbbbbbbbbbbbbb", "eksctl-demo-nodegroup-ng-1-SG-1ABC"},
       {"sg-0aaaaaaaaaaaaaaaa", "eksctl-demo-cluster-ClusterSharedNodeSecurityGroup-2DEF"},
       {"sg-0cccccccccccccccc", "custom-egress"}},
      "sg-0aaaaaaaaaaaaaaaa");
  // No name says node: the lowest id; an old 8-digit id is lower than any 17-digit one.
  expect_same_choice_in_every_order({{"sg-0ccccccccccccccc1", "app-a"},
                                     {"sg-9abcdef0", "legacy"},
                                     {"sg-0aaaaaaaaaaaaaaa2", "app-b"}},
                                    "sg-9abcdef0");
  NodeFacts unnamed;
  unnamed.security_groups = {{"sg-0ccccccccccccccc1", ""}, {"sg-0aaaaaaaaaaaaaaa2", ""}};
  const auto lowest = unnamed.choose_node_security_group();
  EXPECT_EQ(lowest.chosen->id, "sg-0aaaaaaaaaaaaaaa2");
  EXPECT_EQ(lowest.reason,
            "the lowest id of this node's 2 security groups (besides the cluster group); no "
            "name says \"node\"");
  EXPECT_EQ(describe(*lowest.others.at(0)), "sg-0ccccccccccccccc1");
}

TEST(NodeFacts, OneCandidateIsNoChoice) {
  NodeFacts f;
  f.security_groups = {{"sg-0fedcba9876543210", "eks-cluster-sg-demo-1"},
                       {"sg-0a1b2c3d4e5f60718", "whatever"}};
  const auto choice = f.choose_node_security_group();
  EXPECT_EQ(choice.chosen->id, "sg-0a1b2c3d4e5f60718");
  EXPECT_TRUE(choice.reason.empty());
  EXPECT_TRUE(choice.others.empty());
}

TEST(NodeFacts, TheNetworkOfAnAddressAtAPrefixLength) {
  EXPECT_EQ(ipv4_network("10.0.77.5", 19), "10.0.64.0/19");
  EXPECT_EQ(ipv4_network("10.0.77.5", 32), "10.0.77.5/32");
  EXPECT_EQ(ipv4_network("10.0.77.5", 0), "0.0.0.0/0");
  EXPECT_EQ(ipv4_network("fd00::1", 64), "");
  EXPECT_EQ(ipv4_prefix_length("10.0.0.0/20"), 20);
  EXPECT_EQ(ipv4_prefix_length("10.0.0.0"), -1);
  EXPECT_TRUE(is_account_id("123456789012"));
  EXPECT_FALSE(is_account_id("12345678901"));
  EXPECT_FALSE(is_account_id("12345678901a"));
}

}  // namespace
}  // namespace reachprobe::aws
