#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace reachprobe::aws {

struct SecurityGroup {
  std::string id;    // sg-...
  std::string name;  // empty if IMDS did not say
};

// What the instance metadata service says about this node; empty fields were not
// available (IMDS off, unreachable, or a value that did not look like one).
struct NodeFacts {
  std::string region;
  std::string availability_zone;
  std::string instance_id;
  std::string mac;  // of the primary interface, which the rest is about
  std::string subnet_id;
  // The subnet's IPv4 CIDR block: traffic inside it crosses no network ACL and no route
  // table, which is how `check --remediation` tells a NACL-shaped failure from others.
  std::string subnet_cidr;
  std::string vpc_id;
  std::vector<std::string> vpc_cidrs;  // IPv4 CIDR blocks of the VPC, e.g. 10.0.0.0/16
  std::vector<SecurityGroup> security_groups;
  // The instance's AWS account (the identity document's accountId): the ECR registry name
  // ACCOUNT.dkr.ecr.REGION.amazonaws.com.
  std::string account_id;
  // Why a fact is missing, one line each, for the log.
  std::vector<std::string> problems;

  bool empty() const { return region.empty() && instance_id.empty() && security_groups.empty(); }
  // The group EKS managed node groups attach: `eks-cluster-sg-<cluster>-<n>`. Null if
  // none of this node's groups is it.
  const SecurityGroup* cluster_security_group() const;
  // The group rules for this node go on (choose_node_security_group().chosen).
  const SecurityGroup* node_security_group() const;
  // Which of this node's groups is its node group, and why. Not the IMDS order (it promises
  // none): of the groups that are not the cluster group, the one whose name says "node"
  // (terraform-aws-modules/eks' CLUSTER-node-*, eksctl's ...-nodegroup-...), else any;
  // the lowest id among several. Without such a group, the cluster group (a managed node
  // group without a group of its own). Null chosen if no group is known.
  struct NodeGroupChoice {
    const SecurityGroup* chosen = nullptr;
    // When there was a choice: "the only one of 3 whose name says node", ...; else empty.
    std::string reason;
    std::vector<const SecurityGroup*> others;  // the other candidates, by id
  };
  NodeGroupChoice choose_node_security_group() const;
  // Whether an IPv4 address is inside one of the VPC's CIDR blocks (false if unknown).
  bool in_vpc(std::string_view ipv4) const;
};

bool is_cluster_security_group_name(std::string_view name);
// Whether a group's name marks it as a node group ("node" in any case, anywhere).
bool names_node_group(std::string_view name);
// "sg-0abc (name)", or the id alone when the name is not known.
std::string describe(const SecurityGroup& group);

// Value checks for what IMDS returns: a stand-in or a broken proxy can answer anything.
bool is_region(std::string_view text);
bool is_availability_zone(std::string_view text);
bool is_aws_id(std::string_view text, std::string_view prefix);  // "i", "sg", "subnet", "vpc"
bool is_mac(std::string_view text);
bool is_account_id(std::string_view text);  // 12 digits
bool is_ipv4_cidr(std::string_view text);
// Whether `ipv4` is inside `cidr` (both valid, else false).
bool ipv4_in_cidr(std::string_view ipv4, std::string_view cidr);
// The prefix length of a valid IPv4 CIDR, else -1.
int ipv4_prefix_length(std::string_view cidr);
// "10.0.64.0/19" for ("10.0.77.5", 19); empty if `ipv4` is no IPv4 address.
std::string ipv4_network(std::string_view ipv4, int prefix_length);

}  // namespace reachprobe::aws
