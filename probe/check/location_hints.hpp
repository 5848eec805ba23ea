#pragma once

#include <string>

#include "probe/aws/node_facts.hpp"
#include "probe/core/endpoint.hpp"
#include "probe/core/probe_result.hpp"

namespace reachprobe {

// Where a name resolved decides what a failure to reach it means, for the targets that say
// what the name is (Target::aws_service, Target::cluster_endpoint):
// - an AWS service name resolving inside the VPC's CIDRs is an interface endpoint with
//   private DNS: its security group must allow TCP 443 from the nodes;
// - outside the VPC it is the public service: no interface endpoint, or private DNS off on
//   it, and the node needs a way out (NAT) it does not have (S3: a gateway endpoint route);
// - the cluster endpoint inside the VPC is private endpoint access (the control-plane ENIs,
//   the cluster security group); outside, the public endpoint and its access CIDRs.
struct LocationHint {
  bool applies = false;     // the target is one of those, and the failure is about reaching it
  bool inside_vpc = false;  // meaningful when `known`
  bool known = false;       // the VPC's CIDRs (IMDS) and the address were known
  // Whether a security-group rule on the node or cluster group can be the fix: only for the
  // cluster endpoint inside the VPC (cluster group ingress 443 from the nodes).
  bool node_or_cluster_group_fix = false;
  std::string text;
};

LocationHint location_hint(const Endpoint& endpoint, const ProbeResult& result,
                           const aws::NodeFacts* facts);

}  // namespace reachprobe
