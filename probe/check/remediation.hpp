#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "probe/aws/node_facts.hpp"
#include "probe/check/check.hpp"
#include "probe/check/network_path.hpp"

namespace reachprobe {

// Which path a missing security-group rule is on, and so which group gets which rule.
enum class RuleKind {
  ClusterToNode,    // ingress on the node group from the cluster group (webhooks, kubelet)
  NodeToNode,       // ingress on the node group from itself (pods and nodes among themselves)
  NodeToApiServer,  // ingress on the cluster group from the node group (TCP 443)
  StsEgress,        // egress 443 from the node group to STS
  NodeEgress,       // egress from the node group to an address outside the VPC
};
std::string_view to_string(RuleKind kind);

enum class RulePeer { ClusterGroup, NodeGroup, Self, Cidr };

// One failing endpoint a rule fixes.
struct RemediationEndpoint {
  std::string target;
  std::string endpoint;
  std::string result;
  // What needs the port (a discovered inbound port's webhook configurations, APIServices).
  std::string consumers{};
};

// One rule to add; every endpoint that fails for want of it is listed, so a port that
// twelve peers fail on is still one rule.
struct RemediationRule {
  RuleKind kind;
  bool ingress = true;
  std::uint16_t port = 0;         // TCP
  bool on_cluster_group = false;  // else the node group
  RulePeer peer = RulePeer::Cidr;
  std::vector<std::string> cidr_blocks;          // peer Cidr
  std::vector<std::string> broader_cidr_blocks;  // the wider alternative (node -> node)
  std::string description;                       // AWS rule descriptions: no '>' or quotes
  std::string note;
  std::vector<RemediationEndpoint> endpoints;
};

// A failure no security-group rule fixes, and why.
struct RemediationSkip {
  RemediationEndpoint endpoint;
  std::string why;
};

struct RemediationPlan {
  std::vector<RemediationRule> rules;
  std::vector<RemediationSkip> skipped;
  // Failures toward a subnet that the same ports reach elsewhere: no security-group rule,
  // the ACL and route lookups instead (their endpoints are in `skipped` too).
  std::vector<NetworkPathFinding> network_paths;
  // From IMDS; empty when unknown, and the renderings then say what to look for.
  std::string region;
  std::string instance_id;
  std::string availability_zone;
  std::string subnet_id;
  std::string vpc_id;
  aws::SecurityGroup node_group;
  // When this node has several groups besides the cluster group: why node_group is the one
  // (NodeFacts::choose_node_security_group), and the others.
  std::string node_group_reason;
  std::vector<aws::SecurityGroup> other_groups;
  aws::SecurityGroup cluster_group;  // only if attached to this node (eks-cluster-sg-*)
  std::vector<std::string> vpc_cidrs;
};

// The rules that fix every failure of `rows` a security group explains: a TCP connect that
// timed out, or an unreachable whose message says administratively prohibited. Least
// privilege: group references first (self for node -> node), CIDRs as the alternative.
// `api_server_host`: the configured API server's host, to tell it from other 443 peers.
RemediationPlan plan_remediation(const std::vector<CheckRow>& rows, const aws::NodeFacts* facts,
                                 const std::string& api_server_host = {});

// `node_security_group_additional_rules` / `cluster_security_group_additional_rules` for
// terraform-aws-modules/eks, then plain `aws_security_group_rule` resources; HCL2.
std::string render_terraform(const RemediationPlan& plan);
// `aws ec2 authorize-security-group-ingress|egress` commands, one per rule.
std::string render_aws_cli(const RemediationPlan& plan);
// The plan as the JSON value of check's `remediation` member.
std::string render_remediation_json(const RemediationPlan& plan);

}  // namespace reachprobe
