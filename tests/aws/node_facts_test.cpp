#include "probe/aws/node_facts.hpp"

#include <gtest/gtest.h>

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
