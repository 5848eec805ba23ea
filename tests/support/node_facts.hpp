#pragma once

#include "probe/aws/node_facts.hpp"

namespace reachprobe::test {

// The node the hint and remediation tests reason about, as IMDS would describe it: in
// 10.0.0.0/20 of the VPC 10.0.0.0/16 (so its peers' subnets are /20s too), with the node
// group's security group and the cluster's that EKS managed node groups attach.
inline aws::NodeFacts demo_node_facts() {
  aws::NodeFacts f;
  f.region = "eu-west-1";
  f.availability_zone = "eu-west-1a";
  f.instance_id = "i-0123456789abcdef0";
  f.subnet_id = "subnet-0aa11bb22cc33dd44";
  f.subnet_cidr = "10.0.0.0/20";
  f.vpc_id = "vpc-0123abcd4567ef890";
  f.vpc_cidrs = {"10.0.0.0/16"};
  f.security_groups = {{"sg-0a1b2c3d4e5f60718", "demo-node-20261130"},
                       {"sg-0fedcba9876543210", "eks-cluster-sg-demo-1234567890"}};
  return f;
}

}  // namespace reachprobe::test
